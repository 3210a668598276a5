/**
 * Durable file writes, for every file the ledger, the station agent and the CLI rely on (keys, trust
 * roots, tokens, generated configuration, evidence). A power cut must leave either the whole old file or
 * the whole new one, never an empty or half-written file in its place:
 *
 *   write a temporary file in the same directory, with its final mode → fsync it → rename it over the
 *   target (or link it, when the target must not already exist) → fsync the directory.
 *
 * Nothing is reported written before these steps finish. Temporary files left by a crash are named
 * `.<name>.tmp-<pid>-<random>`, never read, and removed by `removeStaleTempFiles`.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface DurableWriteOptions {
  /** Mode of the finished file: 0600 for secrets (the default), 0644 for public material. */
  readonly mode?: number;
  /** When false, refuse to replace an existing file (EEXIST), atomically. */
  readonly overwrite?: boolean;
}

const TEMP_MARK = '.tmp-';

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** fsync of a directory makes a rename or link in it durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Opens the temporary file beside `path`; a failure names `path` (the temporary name means nothing to the caller). */
function openTemp(path: string, mode: number): { temp: string; fd: number } {
  const temp = tempPathFor(path);
  try {
    return { temp, fd: openSync(temp, 'wx', mode) };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${e.code ?? 'error'}: cannot write ${path}: ${e.message}`), { code: e.code, errno: e.errno, syscall: e.syscall, path });
  }
}

/**
 * mkdir -p whose new directories survive a power cut: each one created is made durable in its parent (fsync
 * of the parent), so that the files later written into it, and fsynced there, can be found again.
 */
export function mkdirDurable(dir: string, mode = 0o700): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    fsyncDirectory(dirname(d));
  }
}

export function writeFileDurable(path: string, data: string | Uint8Array, options: DurableWriteOptions = {}): void {
  const mode = options.mode ?? 0o600;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const { temp, fd } = openTemp(path, mode);
  try {
    fchmodSync(fd, mode); // exact: the umask may have narrowed it
    for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  installDurably(temp, path, options.overwrite !== false);
}

/**
 * Puts a temporary file, already fsynced, in place of `path` (or beside nothing, with `overwrite` false: then
 * an existing `path` is an EEXIST), removes the temporary file on failure, and fsyncs the directory.
 */
export function installDurably(temp: string, path: string, overwrite = true): void {
  try {
    if (!overwrite) {
      linkSync(temp, path); // fails with EEXIST if the target exists, atomically
      unlinkSync(temp);
    } else {
      renameSync(temp, path);
    }
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw error;
  }
  fsyncDirectory(dirname(path));
}

/**
 * A file written as a stream (an export of a million events does not fit in memory), durable the same way:
 * the bytes go to a temporary file with the final mode, and `commit()` fsyncs it, renames it over `path`
 * and fsyncs the directory. Until then `path` does not exist (or keeps its old content); `abort()`
 * removes the temporary file. Writes are asynchronous, so a large file does not block the event loop.
 */
export class DurableFileWriter {
  private done = false;

  private constructor(
    readonly path: string,
    private readonly temp: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens the temporary file now, synchronously: a bad path fails at once, naming `path`. */
  static async open(path: string, options: { readonly mode?: number } = {}): Promise<DurableFileWriter> {
    const mode = options.mode ?? 0o600;
    const { temp, fd } = openTemp(path, mode);
    closeSync(fd);
    const handle = await open(temp, 'r+');
    await handle.chmod(mode); // exact: the umask may have narrowed it
    return new DurableFileWriter(path, temp, handle);
  }

  async write(chunk: string | Uint8Array): Promise<void> {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    for (let offset = 0; offset < bytes.length; ) offset += (await this.handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
  }

  /** fsync → rename → fsync the directory: only now is the file there, whole. */
  async commit(): Promise<void> {
    if (this.done) throw new Error(`${this.path} was already committed or aborted`);
    this.done = true;
    try {
      await this.handle.sync();
      await this.handle.close();
      renameSync(this.temp, this.path);
    } catch (error) {
      await this.handle.close().catch(() => undefined);
      try {
        unlinkSync(this.temp);
      } catch {
        // already gone
      }
      throw error;
    }
    fsyncDirectory(dirname(this.path));
  }

  /** Drops what was written; `path` is left as it was. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    try {
      unlinkSync(this.temp);
    } catch {
      // already gone
    }
  }
}

/** Removes temporary files a crash left in `dir` (they are never read). Returns their names. */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith('.') && n.includes(TEMP_MARK));
  for (const n of stale) {
    try {
      unlinkSync(join(dir, n));
    } catch {
      // raced with another cleaner
    }
  }
  if (stale.length > 0) fsyncDirectory(dir);
  return stale;
}
