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
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

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

export function writeFileDurable(path: string, data: string | Uint8Array, options: DurableWriteOptions = {}): void {
  const mode = options.mode ?? 0o600;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const temp = tempPathFor(path);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', mode);
  } catch (error) {
    // Name the file the caller asked for (a missing or read-only directory): the temporary name means nothing to them.
    const e = error as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${e.code ?? 'error'}: cannot write ${path}: ${e.message}`), { code: e.code, errno: e.errno, syscall: e.syscall, path });
  }
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
  try {
    if (options.overwrite === false) {
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

/**
 * A file written in pieces (a streamed export), made durable the same way: the pieces go to a temporary file
 * beside the target, and only `commit` (fsync, rename, fsync the directory) makes it appear under its name.
 * `abort` removes the temporary file; until `commit`, the target is untouched.
 */
export interface DurableFileWriter {
  write(bytes: Uint8Array): void;
  commit(): void;
  abort(): void;
}

export function createDurableFile(path: string, options: { mode?: number } = {}): DurableFileWriter {
  const mode = options.mode ?? 0o600;
  const temp = tempPathFor(path);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', mode);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${e.code ?? 'error'}: cannot write ${path}: ${e.message}`), { code: e.code, errno: e.errno, syscall: e.syscall, path });
  }
  fchmodSync(fd, mode);
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    write(bytes) {
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    },
    commit() {
      fsyncSync(fd);
      close();
      renameSync(temp, path);
      fsyncDirectory(dirname(path));
    },
    abort() {
      close();
      try {
        unlinkSync(temp);
      } catch {
        // already gone
      }
    },
  };
}
