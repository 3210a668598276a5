/**
 * Runs a vendor tool (esptool, espefuse, blhost, …) as a real subprocess, with a timeout, and keeps all of
 * its output: standard output and standard error separately, byte for byte, for the evidence store.
 *
 * The environment is made plain: esptool v5 turns on ANSI colours and erases its own "stage" lines when TERM
 * names a terminal, even when its output is a pipe, so TERM is removed and NO_COLOR set.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

export interface ToolResult {
  readonly program: string;
  readonly argv: readonly string[];
  /** null: it could not be started (not found, not executable). */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly durationMs: number;
  /** Why it could not be started. */
  readonly notRun?: string;
}

/** Output beyond this is cut (and the cut said in stderr): a tool stuck printing must not fill the disk. */
export const MAX_TOOL_OUTPUT = 16 * 1024 * 1024;

const PLACEHOLDER = /\{(\w+)(?::([\w.-]+))?\}/g;

/** The placeholders a command uses, as `name` or `name:arg`. */
export function placeholdersOf(command: readonly string[]): string[] {
  return command.flatMap((arg) => [...arg.matchAll(PLACEHOLDER)].map((m) => (m[2] === undefined ? (m[1] as string) : `${m[1]}:${m[2]}`)));
}

/**
 * Replaces {name} and {name:arg}; an argument that is exactly a list placeholder ({fuses}) becomes that
 * list's arguments. An unknown placeholder is an error (the preflight refuses it first).
 */
export function substitute(command: readonly string[], vars: ReadonlyMap<string, string>, lists: ReadonlyMap<string, readonly string[]> = new Map()): string[] {
  return command.flatMap((arg) => {
    const list = /^\{(\w+)\}$/.exec(arg)?.[1];
    if (list !== undefined && lists.has(list)) return [...(lists.get(list) as readonly string[])];
    return [
      arg.replace(PLACEHOLDER, (whole, name: string, sub: string | undefined) => {
        const key = sub === undefined ? name : `${name}:${sub}`;
        const value = vars.get(key);
        if (value === undefined) throw new Error(`unknown placeholder ${whole}`);
        return value;
      }),
    ];
  });
}

export function runTool(run: { command: readonly string[]; timeoutMs: number }, vars: ReadonlyMap<string, string>, lists?: ReadonlyMap<string, readonly string[]>): Promise<ToolResult> {
  const argv = substitute(run.command, vars, lists);
  const [file, ...args] = argv as [string, ...string[]];
  const program = basename(file);
  const started = Date.now();
  // Not a setting of flashtrail's: the terminal type the station's shell passes down, which the tools must not see.
  const { TERM: _terminal, ...inherited } = process.env;
  const childEnv: NodeJS.ProcessEnv = { ...inherited, NO_COLOR: '1', PYTHONUNBUFFERED: '1' };
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let cut = false;
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (size >= MAX_TOOL_OUTPUT) {
        cut = true;
        return;
      }
      into.push(chunk);
      size += chunk.length;
    };
    // Its own process group, so that a timeout kills the tool and anything it started.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: childEnv });
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(err));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, run.timeoutMs);
    let finished = false;
    const finish = (exitCode: number | null, notRun?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (cut) err.push(Buffer.from(`\n[flashtrail: output cut at ${MAX_TOOL_OUTPUT} bytes]\n`));
      resolve({ program, argv, exitCode, timedOut, stdout: Buffer.concat(out), stderr: Buffer.concat(err), durationMs: Date.now() - started, ...(notRun ? { notRun } : {}) });
    };
    child.once('error', (error) => finish(null, `cannot run ${file}: ${error.message}`));
    child.once('close', (code) => finish(timedOut ? -1 : code));
  });
}
