/**
 * The data directory's files and who may touch them. Checked at every start, before anything in it is read:
 *
 *   - the directory itself is the owner's alone (0700): writable by others, its keys and trust roots may
 *     already have been replaced, so the ledger refuses to start; readable by others, it is narrowed to 0700
 *     with a warning;
 *   - trust roots (tokens.json, admin-keys.json, ledger.json, wherever they are configured) writable by
 *     group or others are refused: whoever can write them decides who may append or administer; readable
 *     by others, they are narrowed to 0600 with a warning;
 *   - every other file (SQLite stores, the admin token, backup records) is narrowed to 0600 with a warning.
 *     Key files are left to the key-file reader, which refuses a key others can read (as ssh does).
 */
import { chmodSync, closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { LedgerConfig } from './config.ts';

/** The data directory or a trust root in it may have been tampered with: the operator must look. */
export class DataDirectoryError extends Error {
  override readonly name = 'DataDirectoryError';
}

/** Files whose content decides who is trusted. */
export function trustRootFiles(config: LedgerConfig): string[] {
  return [config.tokensFile, config.adminKeysFile, join(config.dataDir, 'ledger.json')];
}

const isKeyFile = (name: string) => name.endsWith('.key');
const isTemporary = (name: string) => name.startsWith('.') && name.includes('.tmp-');

/** Checks and narrows modes as above; returns the warnings, one line each. Does nothing on Windows. */
export function secureDataDirectory(config: LedgerConfig): string[] {
  if (process.platform === 'win32' || !existsSync(config.dataDir)) return [];
  const warnings: string[] = [];
  const modeOf = (path: string) => statSync(path).mode & 0o777;
  const octal = (mode: number) => mode.toString(8).padStart(3, '0');

  const dirMode = modeOf(config.dataDir);
  if ((dirMode & 0o022) !== 0) {
    throw new DataDirectoryError(
      `the data directory ${config.dataDir} has mode ${octal(dirMode)}: group or others can replace its keys and trust roots; check them against your backup, then chmod 700 ${config.dataDir}`,
    );
  }
  if ((dirMode & 0o077) !== 0) {
    chmodSync(config.dataDir, 0o700);
    warnings.push(`the data directory ${config.dataDir} had mode ${octal(dirMode)}; narrowed to 700 (its files are for the ledger's user alone)`);
  }

  const trustRoots = new Set(trustRootFiles(config));
  for (const file of trustRoots) {
    if (!existsSync(file)) continue;
    const mode = modeOf(file);
    if ((mode & 0o022) !== 0) {
      throw new DataDirectoryError(`${file} has mode ${octal(mode)}: anyone who can write it decides who may append or administer; check it against your backup, then chmod 600 ${file}`);
    }
    if ((mode & 0o077) !== 0) {
      chmodSync(file, 0o600);
      warnings.push(`${file} had mode ${octal(mode)}; narrowed to 600`);
    }
  }

  for (const name of readdirSync(config.dataDir)) {
    const file = join(config.dataDir, name);
    if (trustRoots.has(file) || isKeyFile(name) || isTemporary(name)) continue;
    const stat = statSync(file);
    if (!stat.isFile()) continue;
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    chmodSync(file, 0o600);
    const secret = basename(file) === 'admin.token' ? ' (it is a bearer token in clear: if others could read it, revoke it)' : '';
    warnings.push(`${file} had mode ${octal(mode)}; narrowed to 600${secret}`);
  }
  return warnings;
}

/**
 * Creates an empty file with mode 0600 if there is none, so that SQLite, which keeps the mode of an existing
 * file (and gives its -wal and -shm files the same), never creates a store readable by others.
 */
export function ensurePrivateFile(file: string): void {
  if (process.platform === 'win32') return;
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
