/**
 * Key backups. `ledger.key` is the log's identity (auditors pin its verifier key; a new key is a new log) and
 * `admin.key` is the only way to administer it: both must be copied offline before they are needed.
 * `flashtrail keys backup --to DIR` copies them, the trust files (ledger.json, admin-keys.json,
 * tokens.json) and the keys replaced by a rotation (`ledger.key.<key id>`, `ledger-ml-dsa.key.<key id>`) durably, reads every copy back and compares it byte for byte (and re-derives each key from its
 * copy), then records the backup in the data directory (`backups.json`), so that `serve` can warn while
 * the keys in use were never backed up. A file already in DIR is never overwritten by different content.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, join, relative, resolve, isAbsolute } from 'node:path';
import { z } from 'zod';
import { mkdirDurable, writeFileDurable } from '../files/durable.ts';
import { readSecretKeyFile } from '../files/key-file.ts';
import { readMlDsaKeyFile } from '../files/ml-dsa-key-file.ts';
import type { LedgerConfig } from './config.ts';

export const BACKUP_RECORD_FILE = 'backups.json';
export const BACKUP_MANIFEST_FILE = 'flashtrail-backup.json';

/** The backup cannot be made, or its copy does not read back as written. */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}

export interface BackedUpFile {
  readonly name: string;
  readonly source: string;
  readonly sha256: string;
  /** For key files: the key id, re-derived from the copy. */
  readonly keyId?: string;
  /** False when DIR already held this exact file. */
  readonly copied: boolean;
}

const BackupRecord = z.strictObject({
  backups: z.array(
    z.strictObject({
      at: z.string(),
      to: z.string(),
      files: z.array(z.strictObject({ name: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), keyId: z.string().optional() })),
    }),
  ),
});
type BackupRecord = z.infer<typeof BackupRecord>;

/** How a copied file is checked beyond its bytes: a key file is read back and must give the original's key id. */
type KeyKind = 'ed25519' | 'ml-dsa' | null;

/**
 * Keys replaced by a rotation, kept in the data directory under `<key file>.<key id>` (src/server/main.ts
 * archivedLedgerKeyFile): the old Ed25519 key signs the LedgerKeyRotated record at the next start, and whoever
 * holds it can announce a competing successor, so it is kept (or destroyed) deliberately, never lost by accident.
 */
const REPLACED_KEY_FILE = /^(ledger\.key|ledger-ml-dsa\.key)\.([0-9a-f]{64})$/;

/** The identity keys, which `serve` wants backed up, then the trust files that go with them, then replaced keys. */
function filesToBackUp(config: LedgerConfig): { name: string; source: string; key: KeyKind; identity: boolean }[] {
  const replaced = existsSync(config.dataDir)
    ? readdirSync(config.dataDir)
        .filter((name) => REPLACED_KEY_FILE.test(name))
        .sort()
        .map((name) => ({ name, source: join(config.dataDir, name), key: (name.startsWith('ledger.key.') ? 'ed25519' : 'ml-dsa') as KeyKind, identity: false }))
    : [];
  return [
    { name: 'ledger.key', source: join(config.dataDir, 'ledger.key'), key: 'ed25519' as KeyKind, identity: true },
    // The post-quantum half of the identity (docs/format.md §5.5).
    { name: 'ledger-ml-dsa.key', source: join(config.dataDir, 'ledger-ml-dsa.key'), key: 'ml-dsa' as KeyKind, identity: true },
    { name: 'admin.key', source: join(config.dataDir, 'admin.key'), key: 'ed25519' as KeyKind, identity: true },
    // The index log's key (docs/format.md §15.3): a lost one means a new index log, and every earlier commitment
    // verifiable only against the old key.
    { name: 'unit-map.key', source: join(config.dataDir, 'unit-map.key'), key: 'ed25519' as KeyKind, identity: true },
    { name: 'ledger.json', source: join(config.dataDir, 'ledger.json'), key: null, identity: false },
    { name: basename(config.adminKeysFile), source: config.adminKeysFile, key: null, identity: false },
    { name: basename(config.tokensFile), source: config.tokensFile, key: null, identity: false },
    ...replaced,
  ].filter((f) => existsSync(f.source));
}

const keyIdOfFile = (kind: KeyKind, path: string): string | undefined => (kind === 'ed25519' ? readSecretKeyFile(path).keyId : kind === 'ml-dsa' ? readMlDsaKeyFile(path).keyId : undefined);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function readRecord(config: LedgerConfig): BackupRecord {
  const file = join(config.dataDir, BACKUP_RECORD_FILE);
  if (!existsSync(file)) return { backups: [] };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new BackupError(`${file} is empty or damaged (not JSON): delete it and run flashtrail keys backup again`);
  }
  const parsed = BackupRecord.safeParse(json);
  if (!parsed.success) throw new BackupError(`${file} is not a backup record: delete it and run flashtrail keys backup again`);
  return parsed.data;
}

/** Copies, verifies and records; throws a BackupError naming the file at the first problem. */
export function backUpKeys(config: LedgerConfig, toDir: string): { readonly files: BackedUpFile[]; readonly to: string; readonly record: string } {
  const to = resolve(toDir);
  const dataDir = existsSync(config.dataDir) ? realpathSync(config.dataDir) : resolve(config.dataDir);
  const files = filesToBackUp(config);
  if (!files.some((f) => f.name === 'ledger.key')) throw new BackupError(`${join(config.dataDir, 'ledger.key')} does not exist: is ${config.dataDir} an initialised data directory?`);
  mkdirDurable(to, 0o700);
  const inside = relative(dataDir, realpathSync(to));
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    throw new BackupError(`${to} is inside the data directory ${config.dataDir}: a backup there is lost with it; back up to another disk`);
  }

  const done: BackedUpFile[] = [];
  for (const f of files) {
    const bytes = readFileSync(f.source);
    const target = join(to, f.name);
    let copied = false;
    if (existsSync(target)) {
      if (sha256(readFileSync(target)) !== sha256(bytes)) {
        throw new BackupError(`${target} already exists with other content: a backup is never overwritten; back up to an empty directory`);
      }
    } else {
      writeFileDurable(target, bytes, { mode: 0o600, overwrite: false });
      copied = true;
    }
    // The copy, read back from the disk, must be the file: byte for byte, and for a key the same key.
    const back = readFileSync(target);
    if (sha256(back) !== sha256(bytes)) throw new BackupError(`${target} does not read back as written: the backup disk is failing`);
    const keyId = keyIdOfFile(f.key, target);
    if (keyId !== keyIdOfFile(f.key, f.source)) throw new BackupError(`${target} does not hold the key of ${f.source}`);
    const named = REPLACED_KEY_FILE.exec(f.name)?.[2];
    if (named !== undefined && keyId !== named) throw new BackupError(`${f.source} holds key ${String(keyId)}, not the ${named} its name says: it is not the replaced key it claims to be`);
    done.push({ name: f.name, source: f.source, sha256: sha256(bytes), ...(keyId ? { keyId } : {}), copied });
  }

  const at = new Date().toISOString();
  const listed = done.map((f) => ({ name: f.name, sha256: f.sha256, ...(f.keyId ? { keyId: f.keyId } : {}) }));
  writeFileDurable(join(to, BACKUP_MANIFEST_FILE), JSON.stringify({ format: 'flashtrail-key-backup-v1', createdAt: at, dataDir: config.dataDir, files: listed }, null, 2) + '\n', { mode: 0o600 });
  const record = readRecord(config);
  record.backups.push({ at, to, files: listed });
  const recordFile = join(config.dataDir, BACKUP_RECORD_FILE);
  writeFileDurable(recordFile, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  return { files: done, to, record: recordFile };
}

/** The identity keys in use that no recorded backup holds (by content); empty when all are backed up. */
export function keysWithoutBackup(config: LedgerConfig): string[] {
  let record: BackupRecord;
  try {
    record = readRecord(config);
  } catch {
    record = { backups: [] };
  }
  const saved = new Set(record.backups.flatMap((b) => b.files.map((f) => `${f.name}:${f.sha256}`)));
  return filesToBackUp(config)
    .filter((f) => f.identity && !saved.has(`${f.name}:${sha256(readFileSync(f.source))}`))
    .map((f) => f.source);
}
