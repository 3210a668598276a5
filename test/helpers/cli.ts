/** The shipped command line as a user runs it: `node bin/flashtrail.js …`, the compiled code in dist/. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');
export const FLASHTRAIL_BIN = join(ROOT, 'bin', 'flashtrail.js');

export interface CliResult {
  /** The exit status, or null when a signal ended the process. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Given on stdin (otherwise stdin is empty). */
  readonly input?: string;
  /** Node options before the script, e.g. ['--import', hook]. */
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs?: number;
  /** A program that runs node with the CLI, e.g. ['strace', '-f', '-o', file]. */
  readonly wrapper?: readonly string[];
  /** Run as this user and group (needs root): e.g. to see "permission denied" where root would read anything. */
  readonly uid?: number;
  readonly gid?: number;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const command = [...(options.wrapper ?? []), process.execPath, ...(options.nodeArgs ?? []), FLASHTRAIL_BIN, ...args];
    const child = spawn(command[0] as string, command.slice(1), {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`flashtrail ${args.join(' ')} did not exit within ${options.timeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Lines of a stream's text, without the empty one after a final newline. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line, i, all) => !(line === '' && i === all.length - 1));
}

/** Exactly one line on stderr, starting `flashtrail: ` and matching `message`, no stack frame, the exit status given. */
export function oneLineFailure(r: CliResult): { code: number | null; line: string; lines: number; stackFrames: boolean } {
  const lines = linesOf(r.stderr);
  return { code: r.code, line: lines[0] ?? '', lines: lines.length, stackFrames: /^\s+at /m.test(r.stderr) };
}
