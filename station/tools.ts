/** Runs a configured flash tool (esptool, espefuse, blhost, …) as a real subprocess, with a timeout. */
import { spawn } from 'node:child_process';

export interface ToolResult {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** The last 4 kB of stdout and stderr, for the failure event. */
  readonly output: string;
}

export function substitute(command: readonly string[], vars: Record<string, string>): string[] {
  return command.map((arg) => arg.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole));
}

export function runTool(tool: { command: readonly string[]; timeoutMs: number }, vars: Record<string, string>): Promise<ToolResult> {
  const [file, ...args] = substitute(tool.command, vars) as [string, ...string[]];
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4096);
    };
    // Its own process group, so that a timeout kills the tool and anything it started.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, tool.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, exitCode: null, timedOut: false, output: `cannot run ${file}: ${error.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: !timedOut && code === 0, exitCode: code, timedOut, output: output.trim() });
    });
  });
}
