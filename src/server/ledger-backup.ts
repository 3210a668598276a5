/**
 * Whole-ledger backups for retention (CRA Art. 13(13): ten years or the support period, whichever is longer).
 * `flashtrail backup DIR` copies a data directory while the ledger keeps running; `flashtrail backup verify
 * DIR` proves the copy is the ledger; `flashtrail restore DIR --data NEW` makes a data directory of it.
 *
 * Consistency without stopping the ledger. Each SQLite file is copied with `VACUUM INTO`, which reads the
 * database inside one read transaction: the copy is a snapshot of one committed state, never a page mix of
 * two (a plain file copy of a WAL database can be), and unlike the page-by-page backup API it never restarts
 * while the ledger keeps writing. The derived files (read model, Merkle log, CFX publisher cursor) are copied
 * BEFORE the event store: each of them then describes a prefix of the events in the copied store, which is
 * exactly the state a ledger resumes from after a crash (it catches them up). The event store is copied last,
 * so it holds every signed checkpoint any copied file refers to.
 *
 * What "verified" means: every file's SHA-256 is the manifest's; the newest CheckpointIssued in the copied
 * event store is the checkpoint the manifest names, and its note verifies with the ledger key in the backup;
 * the RFC 6962 root recomputed from the copied events, one leaf per event in $all order, is that checkpoint's
 * root; and each leaf of the copied Merkle log is the hash of the copied event at its position. The first
 * failure is a BackupVerificationError with a stable code naming the file or the leaf.
 *
 * PostgreSQL and KurrentDB stores are not copied here: their own tools make consistent copies (pg_dump
 * --format=custom of the ledger's schema; a KurrentDB backup), and `flashtrail keys backup` copies the keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { DurableFileWriter, installDurably, mkdirDurable, writeFileDurable } from '../files/durable.ts';
import { readSecretKeyFile } from '../files/key-file.ts';
import { LOCK_FILE } from '../files/dir-lock.ts';
import { leafHash, nodeHash, EMPTY_ROOT, type Hash } from '../merkle/hash.ts';
import { bytesEqual, fromHex, toHex } from '../crypto/encoding.ts';
import { formatVerifierKey, parseVerifierKey, verifyNote } from '../tlog/note.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../event/streams.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { BackupError } from './backup.ts';
import { LEDGER_URL_FILE, type LedgerConfig } from './config.ts';

export const LEDGER_BACKUP_MANIFEST = 'flashtrail-ledger-backup.json';
export const LEDGER_BACKUP_FORMAT = 'flashtrail-ledger-backup-v1';

/** The event store, and the derived SQLite files copied before it (see the module comment for the order). */
const EVENT_STORE_FILE = 'events.sqlite';
const MERKLE_LOG_FILE = 'merkle.sqlite';
const DERIVED_SQLITE_FILES = ['readmodel.sqlite', MERKLE_LOG_FILE, 'cfx-publisher.sqlite'] as const;
/** Never copied: the running server's address and lock, SQLite's side files, temporary files. */
const NOT_COPIED = new Set([LEDGER_URL_FILE, LOCK_FILE, 'lock.holder']);
const isSqliteSideFile = (name: string) => /-(wal|shm|journal)$/.test(name) || /\.rebuild-\d+/.test(name);
const isTemporary = (name: string) => name.startsWith('.') && name.includes('.tmp-');

export type BackupVerificationCode =
  | 'BACKUP_MANIFEST_INVALID'
  | 'BACKUP_FILE_MISSING'
  | 'BACKUP_FILE_UNLISTED'
  | 'BACKUP_FILE_DIGEST_MISMATCH'
  | 'BACKUP_KEY_INVALID'
  | 'BACKUP_CHECKPOINT_MISMATCH'
  | 'BACKUP_CHECKPOINT_SIGNATURE_INVALID'
  | 'BACKUP_EVENTS_MISSING'
  | 'BACKUP_ROOT_MISMATCH'
  | 'BACKUP_LEAF_MISMATCH';

/** The backup is not a faithful copy of a ledger. `file` or `leaf` says where. */
export class BackupVerificationError extends Error {
  override readonly name = 'BackupVerificationError';
  constructor(
    readonly code: BackupVerificationCode,
    message: string,
    readonly where: { readonly file?: string; readonly leaf?: number } = {},
  ) {
    super(`${code}: ${message}`);
  }
}

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** A path inside the backup: relative, forward slashes, no `..`, no hidden names. */
const BackupPath = z.string().regex(/^(sboms\/)?[A-Za-z0-9_][A-Za-z0-9_.@-]{0,200}$/);

export const LedgerBackupManifest = z.strictObject({
  format: z.literal(LEDGER_BACKUP_FORMAT),
  createdAt: z.string(),
  origin: z.string(),
  ledgerKeyId: z.string(),
  verifierKey: z.string(),
  store: z.literal('sqlite'),
  events: z.strictObject({ count: z.number().int().nonnegative(), lastPosition: z.string().regex(/^-?[0-9]+$/) }),
  /** The newest checkpoint the ledger had signed when its event store was copied; null: none yet. */
  checkpoint: z.strictObject({ size: z.number().int().nonnegative(), root: Sha256Hex, note: z.string() }).nullable(),
  files: z.array(z.strictObject({ path: BackupPath, sha256: Sha256Hex, bytes: z.number().int().nonnegative() })),
});
export type LedgerBackupManifest = z.infer<typeof LedgerBackupManifest>;

export interface BackupProgress {
  (line: string): void;
}

export interface BackupVerification {
  readonly manifest: LedgerBackupManifest;
  readonly filesChecked: number;
  readonly eventsHashed: number;
  /** The recomputed root at the checkpoint's size (equal to the signed one), or null: no checkpoint yet. */
  readonly root: string | null;
  readonly merkleLeavesCompared: number;
}

const sha256OfFile = async (file: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

const megabytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

/** Refuses a target that is not a new, empty directory outside the data directory. */
function prepareTarget(dataDir: string, toDir: string): string {
  const to = resolve(toDir);
  if (existsSync(to) && readdirSync(to).length > 0) {
    throw new BackupError(`${to} is not empty: each backup goes to a new directory (a backup is never overwritten or merged)`);
  }
  mkdirDurable(to, 0o700);
  const inside = relative(realpathSync(dataDir), realpathSync(to));
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    throw new BackupError(`${to} is inside the data directory ${dataDir}: a backup there is lost with it; back up to another disk`);
  }
  return to;
}

/**
 * One SQLite database as a consistent snapshot (VACUUM INTO, in one read transaction), in rollback-journal
 * mode (one self-contained file, readable without -wal or -shm), made durable: SQLite does not fsync what
 * VACUUM INTO writes, so this does, then renames it into place and fsyncs the directory.
 */
function snapshotSqlite(source: string, target: string): void {
  const temp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  // An empty file first, 0600: VACUUM INTO writes into an empty file, and would create a new one 0644.
  closeSync(openSync(temp, 'wx', 0o600));
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('VACUUM INTO ?').run(temp);
  } finally {
    db.close();
  }
  try {
    const copy = new Database(temp);
    copy.pragma('journal_mode = DELETE');
    copy.close();
    const fd = openSync(temp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw error;
  }
  installDurably(temp, target);
}

/** A plain file, streamed (an SBOM may be large), durably, 0600. */
async function copyFile(source: string, target: string): Promise<void> {
  const out = await DurableFileWriter.open(target, { mode: 0o600 });
  try {
    for await (const chunk of createReadStream(source)) await out.write(chunk as Buffer);
    await out.commit();
  } catch (error) {
    await out.abort();
    throw error;
  }
}

/** The data directory's plain files worth keeping: keys, trust files, tokens, records, anything an operator put there. */
function plainFilesOf(config: LedgerConfig): { path: string; source: string }[] {
  const sqlite = new Set<string>([EVENT_STORE_FILE, ...DERIVED_SQLITE_FILES]);
  const files: { path: string; source: string }[] = [];
  for (const name of readdirSync(config.dataDir).sort()) {
    if (sqlite.has(name) || NOT_COPIED.has(name) || isSqliteSideFile(name) || isTemporary(name) || name === LEDGER_BACKUP_MANIFEST) continue;
    const source = join(config.dataDir, name);
    if (!lstatSync(source).isFile()) continue;
    if (!BackupPath.safeParse(name).success) continue;
    files.push({ path: name, source });
  }
  // Trust files configured outside the data directory are kept under their default names.
  for (const [configured, name] of [[config.tokensFile, 'tokens.json'], [config.adminKeysFile, 'admin-keys.json']] as const) {
    if (dirname(resolve(configured)) !== resolve(config.dataDir) && existsSync(configured) && !files.some((f) => f.path === name)) files.push({ path: name, source: configured });
  }
  const sboms = join(config.dataDir, 'sboms');
  if (existsSync(sboms)) {
    for (const name of readdirSync(sboms).sort()) {
      const source = join(sboms, name);
      if (/^[0-9a-f]{64}$/.test(name) && lstatSync(source).isFile()) files.push({ path: `sboms/${name}`, source });
    }
  }
  return files;
}

/** The ledger's identity as the backup holds it: origin (ledger.json) and verifier key (from ledger.key). */
function identityIn(dir: string): { origin: string; keyId: string; verifierKey: string } {
  const info = join(dir, 'ledger.json');
  let origin: unknown;
  try {
    origin = (JSON.parse(readFileSync(info, 'utf8')) as { origin?: unknown }).origin;
  } catch (error) {
    throw new BackupVerificationError('BACKUP_KEY_INVALID', `${info} cannot be read as the ledger's identity: ${(error as Error).message}`, { file: info });
  }
  if (typeof origin !== 'string') throw new BackupVerificationError('BACKUP_KEY_INVALID', `${info} names no origin`, { file: info });
  const keyFile = join(dir, 'ledger.key');
  let key;
  try {
    key = readSecretKeyFile(keyFile);
  } catch (error) {
    throw new BackupVerificationError('BACKUP_KEY_INVALID', `${keyFile}: ${(error as Error).message}`, { file: keyFile });
  }
  return { origin, keyId: key.keyId, verifierKey: formatVerifierKey(origin, key.publicKey) };
}

interface StoreSummary {
  readonly count: number;
  readonly lastPosition: bigint;
  readonly checkpoint: { size: number; root: string; note: string } | null;
}

/**
 * Reads a copied event store without changing a byte of it (read-only, rollback-journal mode). The SQL names
 * the columns of src/store/sqlite.ts's `events` table; the store class itself is not used, because opening
 * it switches the file to WAL mode and creates its schema, which would change the file's digest.
 */
function openCopiedStore(file: string): Database.Database {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  return db;
}

function summarizeStore(file: string): StoreSummary {
  const db = openCopiedStore(file);
  try {
    const totals = db.prepare('SELECT COUNT(*) AS n, MAX(position) AS p FROM events').get() as { n: bigint; p: bigint | null };
    const head = db.prepare('SELECT data FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1').get(LEDGER_CHECKPOINT_STREAM) as { data: Buffer } | undefined;
    let checkpoint: StoreSummary['checkpoint'] = null;
    if (head) {
      const { event } = decodeTrustedEnvelope(new Uint8Array(head.data), nativeCrypto);
      if (event.type !== 'CheckpointIssued') throw new BackupVerificationError('BACKUP_CHECKPOINT_MISMATCH', `the newest event of ${LEDGER_CHECKPOINT_STREAM} in ${file} is ${event.type}, not CheckpointIssued`, { file });
      checkpoint = { size: event.data.size, root: event.data.rootHash, note: event.data.note };
    }
    return { count: Number(totals.n), lastPosition: totals.p ?? -1n, checkpoint };
  } finally {
    db.close();
  }
}

/**
 * The RFC 6962 root of a stream of leaves, in O(log n) memory: a stack of perfect subtrees, merged while two
 * of equal height are on top, folded from the right at the end (the same tree as the recursive definition's
 * split at the largest power of two below n).
 */
export class StreamingRoot {
  private readonly stack: { height: number; hash: Hash }[] = [];
  size = 0;

  push(leaf: Hash): void {
    let node = { height: 0, hash: leaf };
    for (let top = this.stack[this.stack.length - 1]; top !== undefined && top.height === node.height; top = this.stack[this.stack.length - 1]) {
      this.stack.pop();
      node = { height: node.height + 1, hash: nodeHash(top.hash, node.hash, nativeCrypto) };
    }
    this.stack.push(node);
    this.size++;
  }

  root(): Hash {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let acc = (this.stack[this.stack.length - 1] as { hash: Hash }).hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = nodeHash((this.stack[i] as { hash: Hash }).hash, acc, nativeCrypto);
    return acc;
  }
}

/** Checks everything the module comment lists; throws at the first failure. */
export async function verifyLedgerBackup(dir: string, progress: BackupProgress = () => undefined): Promise<BackupVerification> {
  const root = resolve(dir);
  const manifestFile = join(root, LEDGER_BACKUP_MANIFEST);
  if (!existsSync(manifestFile)) throw new BackupVerificationError('BACKUP_MANIFEST_INVALID', `${manifestFile} does not exist: ${root} is not a finished flashtrail backup`, { file: manifestFile });
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch (error) {
    throw new BackupVerificationError('BACKUP_MANIFEST_INVALID', `${manifestFile} is not JSON: ${(error as Error).message}`, { file: manifestFile });
  }
  const parsed = LedgerBackupManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BackupVerificationError('BACKUP_MANIFEST_INVALID', `${manifestFile}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`, { file: manifestFile });
  }
  const manifest = parsed.data;

  // 1. Every file is there, as it was written, and nothing else is.
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const name of readdirSync(root)) {
    if (name === LEDGER_BACKUP_MANIFEST) continue;
    if (name === 'sboms' && statSync(join(root, name)).isDirectory()) {
      for (const s of readdirSync(join(root, name))) {
        if (!listed.has(`sboms/${s}`)) throw new BackupVerificationError('BACKUP_FILE_UNLISTED', `${join(root, name, s)} is not in the manifest: it was added after the backup was made`, { file: join(root, name, s) });
      }
      continue;
    }
    if (!listed.has(name)) throw new BackupVerificationError('BACKUP_FILE_UNLISTED', `${join(root, name)} is not in the manifest: it was added after the backup was made`, { file: join(root, name) });
  }
  for (const f of manifest.files) {
    const file = join(root, f.path);
    if (!existsSync(file)) throw new BackupVerificationError('BACKUP_FILE_MISSING', `${file} is listed in the manifest but missing`, { file });
    const actual = await sha256OfFile(file);
    if (actual !== f.sha256) throw new BackupVerificationError('BACKUP_FILE_DIGEST_MISMATCH', `${file} has SHA-256 ${actual}, the manifest says ${f.sha256}: the file changed after the backup was made`, { file });
  }
  progress(`checked the SHA-256 of ${manifest.files.length} files`);

  // 2. The identity, and the signed checkpoint, are the manifest's.
  const identity = identityIn(root);
  if (identity.verifierKey !== manifest.verifierKey) {
    throw new BackupVerificationError('BACKUP_KEY_INVALID', `${join(root, 'ledger.key')} gives verifier key ${identity.verifierKey}, the manifest says ${manifest.verifierKey}`, { file: join(root, 'ledger.key') });
  }
  const storeFile = join(root, EVENT_STORE_FILE);
  const summary = summarizeStore(storeFile);
  const same = (a: StoreSummary['checkpoint'], b: LedgerBackupManifest['checkpoint']) => (a === null ? b === null : b !== null && a.size === b.size && a.root === b.root && a.note === b.note);
  if (!same(summary.checkpoint, manifest.checkpoint)) {
    const shown = (c: { size: number; root: string } | null) => (c ? `size ${c.size}, root ${c.root}` : 'none');
    throw new BackupVerificationError('BACKUP_CHECKPOINT_MISMATCH', `the newest checkpoint recorded in ${storeFile} is ${shown(summary.checkpoint)}, the manifest says ${shown(manifest.checkpoint)}`, { file: storeFile });
  }
  if (summary.count !== manifest.events.count) {
    throw new BackupVerificationError('BACKUP_EVENTS_MISSING', `${storeFile} holds ${summary.count} events, the manifest says ${manifest.events.count}`, { file: storeFile });
  }
  const checkpoint = manifest.checkpoint;
  if (checkpoint) {
    let body;
    try {
      body = parseCheckpointBody(verifyNote(checkpoint.note, [parseVerifierKey(manifest.verifierKey)], nativeCrypto).text);
    } catch (error) {
      throw new BackupVerificationError('BACKUP_CHECKPOINT_SIGNATURE_INVALID', `the checkpoint of size ${checkpoint.size} in ${storeFile} is not signed by the ledger key ${identity.keyId}: ${(error as Error).message}`, { file: storeFile });
    }
    if (body.size !== checkpoint.size || toHex(body.root) !== checkpoint.root) {
      throw new BackupVerificationError('BACKUP_CHECKPOINT_MISMATCH', `the checkpoint recorded in ${storeFile} says size ${checkpoint.size}, root ${checkpoint.root}, its signed note says size ${body.size}, root ${toHex(body.root)}`, { file: storeFile });
    }
    if (summary.count < checkpoint.size) {
      throw new BackupVerificationError('BACKUP_EVENTS_MISSING', `${storeFile} holds ${summary.count} events, fewer than the ${checkpoint.size} of the signed checkpoint`, { file: storeFile });
    }
  }

  // 3. The root recomputed from the events, leaf by leaf against the copied Merkle log where it has the leaf.
  const merkleFile = join(root, MERKLE_LOG_FILE);
  const merkle = listed.has(MERKLE_LOG_FILE) ? new Database(merkleFile, { readonly: true, fileMustExist: true }) : null;
  merkle?.defaultSafeIntegers(true);
  const merkleLeaf = merkle?.prepare('SELECT l.position AS position, n.hash AS hash FROM merkle_leaves l JOIN merkle_nodes n ON n.level = 0 AND n.idx = l.idx WHERE l.idx = ?');
  const db = openCopiedStore(storeFile);
  const tree = new StreamingRoot();
  let compared = 0;
  let rootAtCheckpoint: Hash | null = checkpoint && checkpoint.size === 0 ? EMPTY_ROOT : null;
  try {
    const target = checkpoint?.size ?? 0;
    const reportEvery = Math.max(100_000, Math.ceil(summary.count / 20));
    for (const row of db.prepare('SELECT position, stream, revision, data FROM events ORDER BY position').iterate() as Iterable<{ position: bigint; stream: string; revision: bigint; data: Buffer }>) {
      const leaf = leafHash(new Uint8Array(row.data), nativeCrypto);
      const index = tree.size;
      const stored = merkleLeaf?.get(index) as { position: bigint; hash: Buffer } | undefined;
      if (stored) {
        if (stored.position !== row.position || !bytesEqual(new Uint8Array(stored.hash), leaf)) {
          throw new BackupVerificationError(
            'BACKUP_LEAF_MISMATCH',
            `leaf ${index} of ${merkleFile} (the event at $all position ${stored.position}) is not the event at $all position ${row.position} (${row.stream}, revision ${row.revision}) in ${storeFile}`,
            { file: storeFile, leaf: index },
          );
        }
        compared++;
      }
      tree.push(leaf);
      if (tree.size === target) rootAtCheckpoint = tree.root();
      if (tree.size % reportEvery === 0) progress(`hashed ${tree.size} of ${summary.count} events`);
    }
  } finally {
    db.close();
    merkle?.close();
  }
  if (checkpoint) {
    if (rootAtCheckpoint === null || !bytesEqual(rootAtCheckpoint, fromHex(checkpoint.root))) {
      throw new BackupVerificationError(
        'BACKUP_ROOT_MISMATCH',
        `the root of the first ${checkpoint.size} events of ${storeFile} is ${rootAtCheckpoint ? toHex(rootAtCheckpoint) : '(too few events)'}, the signed checkpoint says ${checkpoint.root}${compared > 0 ? ` (the ${compared} leaves of ${MERKLE_LOG_FILE} match: the difference lies beyond them)` : ''}`,
        { file: storeFile },
      );
    }
  }
  progress(`recomputed the Merkle root of ${tree.size} events${checkpoint ? `: equal to the signed checkpoint at size ${checkpoint.size}` : ' (no checkpoint signed yet)'}`);
  return { manifest, filesChecked: manifest.files.length, eventsHashed: tree.size, root: checkpoint ? checkpoint.root : null, merkleLeavesCompared: compared };
}

export interface LedgerBackupResult {
  readonly to: string;
  readonly manifest: LedgerBackupManifest;
  readonly verification: BackupVerification;
}

/** Copies the data directory into `toDir` (new or empty), writes the manifest last, then verifies the copy. */
export async function backUpLedger(config: LedgerConfig, toDir: string, progress: BackupProgress = () => undefined): Promise<LedgerBackupResult> {
  if (config.store !== 'sqlite') {
    throw new BackupError(
      config.store === 'postgres'
        ? `the event store is PostgreSQL: back it up with its own tools (pg_dump --format=custom --schema=${config.postgresSchema} of the ledger's database, or continuous archiving), and the keys with flashtrail keys backup`
        : 'the event store is KurrentDB: back it up with its own backup procedure, and the keys with flashtrail keys backup',
    );
  }
  const storeSource = join(config.dataDir, EVENT_STORE_FILE);
  if (!existsSync(storeSource) || !existsSync(join(config.dataDir, 'ledger.key'))) {
    throw new BackupError(`${config.dataDir} holds no ledger (${existsSync(storeSource) ? 'ledger.key' : EVENT_STORE_FILE} is missing): is it an initialised data directory?`);
  }
  const to = prepareTarget(config.dataDir, toDir);
  const files: LedgerBackupManifest['files'] = [];
  const record = async (path: string) => {
    const file = join(to, path);
    files.push({ path, sha256: await sha256OfFile(file), bytes: statSync(file).size });
  };

  for (const name of DERIVED_SQLITE_FILES) {
    const source = join(config.dataDir, name);
    if (!existsSync(source)) continue;
    progress(`copying ${name} (${megabytes(statSync(source).size)}) as one snapshot`);
    snapshotSqlite(source, join(to, name));
    await record(name);
  }
  progress(`copying ${EVENT_STORE_FILE} (${megabytes(statSync(storeSource).size)}) as one snapshot`);
  snapshotSqlite(storeSource, join(to, EVENT_STORE_FILE));
  await record(EVENT_STORE_FILE);

  const plain = plainFilesOf(config);
  if (plain.some((f) => f.path.startsWith('sboms/'))) mkdirDurable(join(to, 'sboms'), 0o700);
  for (const f of plain) {
    await copyFile(f.source, join(to, f.path));
    await record(f.path);
  }
  progress(`copied ${plain.length} key, trust, record and SBOM files`);

  const identity = identityIn(to);
  const summary = summarizeStore(join(to, EVENT_STORE_FILE));
  const manifest: LedgerBackupManifest = {
    format: LEDGER_BACKUP_FORMAT,
    createdAt: new Date().toISOString(),
    origin: identity.origin,
    ledgerKeyId: identity.keyId,
    verifierKey: identity.verifierKey,
    store: 'sqlite',
    events: { count: summary.count, lastPosition: summary.lastPosition.toString() },
    checkpoint: summary.checkpoint,
    files,
  };
  // Written last: a directory without it is an unfinished backup, and verify says so.
  writeFileDurable(join(to, LEDGER_BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600, overwrite: false });
  const verification = await verifyLedgerBackup(to, progress);
  return { to, manifest, verification };
}

/**
 * Makes a new data directory of a verified backup: every file copied durably (0600, the directory 0700) and
 * read back against the manifest. The target must not exist or be empty: a restore never mixes two ledgers.
 */
export async function restoreLedger(fromDir: string, dataDir: string, progress: BackupProgress = () => undefined): Promise<{ readonly dataDir: string; readonly verification: BackupVerification }> {
  const from = resolve(fromDir);
  const target = resolve(dataDir);
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new BackupError(`${target} is not empty: restore into a new data directory (a restore never mixes two ledgers' files)`);
  }
  const verification = await verifyLedgerBackup(from, progress);
  mkdirDurable(target, 0o700);
  const manifest = verification.manifest;
  if (manifest.files.some((f) => f.path.startsWith('sboms/'))) mkdirDurable(join(target, 'sboms'), 0o700);
  for (const f of manifest.files) {
    await copyFile(join(from, f.path), join(target, f.path));
    const back = await sha256OfFile(join(target, f.path));
    if (back !== f.sha256) throw new BackupError(`${join(target, f.path)} does not read back as the backup's ${f.path} (SHA-256 ${back}, not ${f.sha256}): the disk is failing`);
  }
  progress(`restored ${manifest.files.length} files into ${target}`);
  return { dataDir: target, verification };
}
