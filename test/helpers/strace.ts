/**
 * Runs the shipped CLI under Debian's strace and reads back, in order, the file system calls it made: what
 * proves a write durable is the order of openat, write, fsync, rename/link and the directory's fsync, as
 * the kernel saw them, not what our code says it does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FLASHTRAIL_BIN, runCli, type CliOptions, type CliResult } from './cli.ts';

const TRACED = 'openat,write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,mkdirat';

/** Probed without spawning a child that could emit an unhandled 'error' when strace is missing. */
export function straceAvailable(): { ok: true } | { ok: false; why: string } {
  const probe = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  if (probe.error) return { ok: false, why: `strace is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); .ci/run installs it (apt-get install strace)` };
  if (probe.status !== 0) return { ok: false, why: `strace cannot trace here (exit ${String(probe.status)}; ptrace may be forbidden in this container)` };
  return { ok: true };
}

export interface Syscall {
  /** Order of the call's start and of its completion among all traced lines (threads interleave). */
  readonly start: number;
  readonly end: number;
  readonly name: string;
  readonly args: string;
  readonly result: string;
}

export interface Traced {
  readonly result: CliResult;
  readonly calls: readonly Syscall[];
}

export async function traceCli(args: readonly string[], options: CliOptions = {}): Promise<Traced> {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-strace-'));
  const out = join(dir, 'trace');
  try {
    // -y prints the path behind every file descriptor: fsync(18</data/.tokens.json.tmp-…>).
    const result = await runCli(args, { ...options, wrapper: ['strace', '-f', '-y', '-qq', '-e', `trace=${TRACED}`, '-o', out] });
    return { result, calls: parse(readFileSync(out, 'utf8')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parse(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const pending = new Map<string, { start: number; name: string; args: string }>();
  text.split('\n').forEach((line, index) => {
    const unfinished = /^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>$/.exec(line);
    if (unfinished) {
      const [, pid, name, args] = unfinished as unknown as [string, string, string, string];
      pending.set(`${pid}:${name}`, { start: index, name, args });
      return;
    }
    const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)\)\s+= (.*)$/.exec(line);
    if (resumed) {
      const [, pid, name, rest, result] = resumed as unknown as [string, string, string, string, string];
      const begun = pending.get(`${pid}:${name}`);
      pending.delete(`${pid}:${name}`);
      calls.push({ start: begun?.start ?? index, end: index, name, args: (begun?.args ?? '') + rest, result });
      return;
    }
    const whole = /^(\d+)\s+(\w+)\((.*)\)\s+= (.*)$/.exec(line);
    if (whole) {
      const [, , name, args, result] = whole as unknown as [string, string, string, string, string];
      calls.push({ start: index, end: index, name, args, result });
    }
  });
  return calls.sort((a, b) => a.start - b.start);
}

/** The quoted path arguments of a call, e.g. rename("a", "b") → [a, b]; renameat2(AT_FDCWD…, "a", …, "b", 0) too. */
const quoted = (args: string) => [...args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string);
/** The path strace -y shows behind a call's first file descriptor: fsync(18</x/y>) → /x/y. */
const fdPath = (args: string) => /^\d+<(.*)>$/.exec(args.split(', ')[0] ?? '')?.[1] ?? null;

export interface DurableWrite {
  readonly path: string;
  readonly temp: string;
  readonly via: 'rename' | 'link';
}

/**
 * Every file the traced command put in place under `root`, each checked: written to a temporary file in the
 * same directory, that file fsynced before the rename (or link) onto the final name, and the directory fsynced
 * after it. Throws naming the first file that breaks the order; also throws for a file under `root` written in
 * place (opened with O_CREAT under its final name and written to).
 */
export function durableWrites(calls: readonly Syscall[], root: string): DurableWrite[] {
  const under = (p: string) => p === root || p.startsWith(root + '/');
  const writes: DurableWrite[] = [];
  for (const call of calls) {
    if (!/^(rename|renameat|renameat2|link|linkat)$/.test(call.name) || call.result.startsWith('-1')) continue;
    const [temp, path] = quoted(call.args) as [string, string];
    if (!under(path)) continue;
    if (dirname(temp) !== dirname(path)) throw new Error(`${path} was renamed from ${temp}, outside its directory`);
    const synced = calls.find((c) => c.name === 'fsync' && fdPath(c.args) === temp && c.end < call.start && c.result === '0');
    if (!synced) throw new Error(`${path}: its temporary file ${temp} was not fsynced before the ${call.name}`);
    const dirSynced = calls.find((c) => c.name === 'fsync' && fdPath(c.args) === dirname(path) && c.start > call.end && c.result === '0');
    if (!dirSynced) throw new Error(`${path}: its directory ${dirname(path)} was not fsynced after the ${call.name}`);
    writes.push({ path, temp, via: call.name.startsWith('link') ? 'link' : 'rename' });
  }
  // A file written in place under its final name would be half-written after a crash.
  const finals = new Set(writes.map((w) => w.path));
  for (const call of calls) {
    if (call.name !== 'openat' || !/O_CREAT/.test(call.args)) continue;
    const path = quoted(call.args)[0] as string;
    if (!under(path) || /\/\.[^/]*\.tmp-/.test(path) || !finals.has(path)) continue;
    throw new Error(`${path} was opened with O_CREAT under its final name`);
  }
  return writes;
}

/** New directories under `root`, each checked to be fsynced in its parent after its mkdir. */
export function durableDirectories(calls: readonly Syscall[], root: string): string[] {
  const made: string[] = [];
  for (const call of calls) {
    if (!/^mkdir(at)?$/.test(call.name) || call.result !== '0') continue;
    const dir = quoted(call.args)[0] as string;
    if (!(dir === root || dir.startsWith(root + '/'))) continue;
    const synced = calls.find((c) => c.name === 'fsync' && fdPath(c.args) === dirname(dir) && c.start > call.end && c.result === '0');
    if (!synced) throw new Error(`the new directory ${dir} was not fsynced in its parent ${dirname(dir)}`);
    made.push(dir);
  }
  return made;
}

/** Where the command wrote its success line to stdout (fd 1), after which nothing may still be pending. */
export function stdoutWrites(calls: readonly Syscall[]): Syscall[] {
  return calls.filter((c) => c.name === 'write' && /^1</.test(c.args));
}

export { FLASHTRAIL_BIN };
