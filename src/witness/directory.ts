/**
 * A witness's directory: its identity (name and Ed25519 cosigning key), the logs it witnesses, and the latest
 * checkpoint it cosigned for each. Everything is written with writeFileDurable: a witness that forgot, after
 * a power cut, the size it had cosigned would cosign a rolled-back (forked) tree, the one thing it exists to
 * refuse (tlog-witness: "MUST persist the new checkpoint before responding").
 *
 *   DIR/witness.json         { format, name, logs: [<log verifier key>…], rotations?: [{from, to, leafIndex}…] }
 *                            rotations: ledger keys learned by add-ledger-key (src/witness/ledger-key.ts); `from`
 *                            signs the log's checkpoints up to size leafIndex, `to` those above it
 *   DIR/witness-key.json     the Ed25519 secret key, mode 0600 (src/files/key-file.ts)
 *   DIR/logs/<hex SHA-256(origin)>.json   { origin, size, root (base64), checkpoint (the cosigned note) }
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { mkdirDurable, removeStaleTempFiles, writeFileDurable } from '../files/durable.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../files/key-file.ts';
import { newSigner, type Signer } from '../crypto/ed25519.ts';
import { fromBase64, toBase64, toHex, utf8 } from '../crypto/encoding.ts';
import { sha256 } from '../crypto/sha256.ts';
import { formatCosignerKey } from '../tlog/cosignature.ts';
import { formatVerifierKey, parseVerifierKey, type NoteKey } from '../tlog/note.ts';
import type { WitnessedLog } from '../tlog/witness.ts';
import type { LearnedLedgerKey } from './ledger-key.ts';

export const WITNESS_FORMAT = 'flashtrail.witness.v1';

export class WitnessDirectoryError extends Error {
  override readonly name = 'WitnessDirectoryError';
}

const WitnessConfigFile = z.strictObject({
  format: z.literal(WITNESS_FORMAT),
  name: z.string().regex(/^[^\s+]{1,255}$/u),
  logs: z.array(z.string()).max(1024),
  rotations: z.array(z.strictObject({ from: z.string(), to: z.string(), leafIndex: z.number().int().nonnegative() })).max(1024).optional(),
});

const LogStateFile = z.strictObject({
  origin: z.string().min(1),
  size: z.number().int().nonnegative(),
  root: z.string(),
  checkpoint: z.string(),
  cosignedAt: z.string(),
});

export interface WitnessIdentity {
  readonly name: string;
  readonly key: Signer;
  /** `<name>+<key id>+<base64(0x04 || key)>`: what a log operator or a verifier's policy names. */
  readonly verifierKey: string;
}

export interface StoredLog extends WitnessedLog {
  readonly origin: string;
  readonly checkpoint: string;
  readonly cosignedAt: string;
}

const configFile = (dir: string) => join(dir, 'witness.json');
const keyFile = (dir: string) => join(dir, 'witness-key.json');
const logsDir = (dir: string) => join(dir, 'logs');
const stateFile = (dir: string, origin: string) => join(logsDir(dir), `${toHex(sha256(utf8(origin)))}.json`);

/** Creates a witness directory with a new key; refuses one that exists. */
export function initWitnessDirectory(dir: string, name: string, logKeys: readonly string[]): WitnessIdentity {
  if (existsSync(configFile(dir))) throw new WitnessDirectoryError(`${configFile(dir)} already exists: this directory is a witness already`);
  const config = WitnessConfigFile.safeParse({ format: WITNESS_FORMAT, name, logs: [] });
  if (!config.success) throw new WitnessDirectoryError(`the witness name ${JSON.stringify(name)} must be 1 to 255 characters without spaces or '+', e.g. witness.example.com/w1`);
  for (const k of logKeys) checkLogKey(k);
  mkdirDurable(dir);
  mkdirDurable(logsDir(dir));
  const key = newSigner();
  writeSecretKeyFile(keyFile(dir), key, `flashtrail witness ${name}: cosigns checkpoints (tlog-cosignature/v1)`);
  writeFileDurable(configFile(dir), JSON.stringify({ format: WITNESS_FORMAT, name, logs: [...new Set(logKeys)] }, null, 2) + '\n', { mode: 0o600, overwrite: false });
  return { name, key, verifierKey: formatCosignerKey(name, key.publicKey) };
}

/** Adds a log to witness. A log is never removed: re-adding it later would let the witness cosign a fork. */
export function addWitnessedLog(dir: string, logKey: string): NoteKey {
  const key = checkLogKey(logKey);
  const config = readConfig(dir);
  if (!config.logs.includes(logKey)) writeFileDurable(configFile(dir), JSON.stringify({ ...config, logs: [...config.logs, logKey] }, null, 2) + '\n', { mode: 0o600 });
  return key;
}

function checkLogKey(text: string): NoteKey {
  try {
    return parseVerifierKey(text);
  } catch (error) {
    throw new WitnessDirectoryError(`${JSON.stringify(text.slice(0, 120))} is not a log verifier key (<origin>+<key id>+<base64 Ed25519 key>, as flashtrail init prints it): ${(error as Error).message}`);
  }
}

function readConfig(dir: string): z.infer<typeof WitnessConfigFile> {
  const file = configFile(dir);
  if (!existsSync(file)) throw new WitnessDirectoryError(`${dir} is not a witness directory (no witness.json): create it with flashtrail witness init`);
  try {
    return WitnessConfigFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    throw new WitnessDirectoryError(`${file} is damaged (not a ${WITNESS_FORMAT} file)`);
  }
}

export class WitnessDirectory {
  private readonly state = new Map<string, StoredLog>();
  /** Log keys by origin: the key's name is the log's origin (tlog-checkpoint SHOULD, tlog-policy MUST). */
  private readonly keys: Map<string, NoteKey[]>;
  /** Learned rotations, as in witness.json: which sizes each key of a rotated log may sign. */
  private readonly rotations: { from: NoteKey; to: NoteKey; leafIndex: number }[];

  private constructor(
    readonly dir: string,
    readonly identity: WitnessIdentity,
    keys: Map<string, NoteKey[]>,
    rotations: { from: NoteKey; to: NoteKey; leafIndex: number }[],
  ) {
    this.keys = keys;
    this.rotations = rotations;
  }

  get logKeys(): ReadonlyMap<string, readonly NoteKey[]> {
    return this.keys;
  }

  /**
   * Whether `key` may sign a checkpoint of `size` (docs/format.md §5.4: a checkpoint of size s by the key in
   * force at leaf s): a key replaced at leaf r signs sizes up to r, its successor sizes above r.
   */
  keyInForce(key: NoteKey, size: number): boolean {
    const same = (a: NoteKey) => a.name === key.name && a.id === key.id;
    return !this.rotations.some((r) => (same(r.from) && size > r.leafIndex) || (same(r.to) && size <= r.leafIndex));
  }

  /** Learns ledger keys shown by add-ledger-key, durably, before the witness answers. */
  learnLedgerKeys(learned: readonly LearnedLedgerKey[]): void {
    if (learned.length === 0) return;
    const config = readConfig(this.dir);
    const rotations = [...(config.rotations ?? [])];
    const logs = [...config.logs];
    for (const l of learned) {
      if (!logs.includes(l.verifierKey)) logs.push(l.verifierKey);
      rotations.push({ from: formatVerifierKey(l.replaces.name, l.replaces.publicKey), to: l.verifierKey, leafIndex: l.fromLeaf });
    }
    writeFileDurable(configFile(this.dir), JSON.stringify({ ...config, logs, rotations }, null, 2) + '\n', { mode: 0o600 });
    for (const l of learned) {
      this.keys.set(l.key.name, [...(this.keys.get(l.key.name) ?? []), l.key]);
      this.rotations.push({ from: l.replaces, to: l.key, leafIndex: l.fromLeaf });
    }
  }

  static open(dir: string): WitnessDirectory {
    const config = readConfig(dir);
    const key = readSecretKeyFile(keyFile(dir));
    const logKeys = new Map<string, NoteKey[]>();
    for (const text of config.logs) {
      const k = checkLogKey(text);
      logKeys.set(k.name, [...(logKeys.get(k.name) ?? []), k]);
    }
    mkdirDurable(logsDir(dir));
    removeStaleTempFiles(logsDir(dir));
    const rotations = (config.rotations ?? []).map((r) => ({ from: checkLogKey(r.from), to: checkLogKey(r.to), leafIndex: r.leafIndex }));
    const witness = new WitnessDirectory(dir, { name: config.name, key, verifierKey: formatCosignerKey(config.name, key.publicKey) }, logKeys, rotations);
    for (const file of readdirSync(logsDir(dir)).filter((f) => /^[0-9a-f]{64}\.json$/.test(f))) {
      let parsed;
      try {
        parsed = LogStateFile.parse(JSON.parse(readFileSync(join(logsDir(dir), file), 'utf8')));
      } catch {
        // Refuse to start rather than forget a log: forgetting is what lets a witness cosign a fork.
        throw new WitnessDirectoryError(`${join(logsDir(dir), file)} is damaged: restore it from a backup (starting without it would let this witness cosign a forked tree)`);
      }
      if (stateFile(dir, parsed.origin) !== join(logsDir(dir), file)) throw new WitnessDirectoryError(`${join(logsDir(dir), file)} holds the state of ${parsed.origin}, whose file has another name`);
      witness.state.set(parsed.origin, { origin: parsed.origin, size: parsed.size, root: fromBase64(parsed.root), checkpoint: parsed.checkpoint, cosignedAt: parsed.cosignedAt });
    }
    return witness;
  }

  latest(origin: string): StoredLog | null {
    return this.state.get(origin) ?? null;
  }

  /**
   * Records the new latest checkpoint of a log, durably, if the stored size is still `expectedSize`; the
   * caller runs the check and this without yielding to the event loop, so two requests cannot both pass
   * the check against the same old size (the race tlog-witness describes, which would roll the log back).
   */
  record(origin: string, expectedSize: number, next: StoredLog): void {
    const current = this.state.get(origin)?.size ?? 0;
    if (current !== expectedSize) throw new WitnessDirectoryError(`the stored size of ${origin} changed from ${expectedSize} to ${current}`);
    writeFileDurable(stateFile(this.dir, origin), JSON.stringify({ origin, size: next.size, root: toBase64(next.root), checkpoint: next.checkpoint, cosignedAt: next.cosignedAt }, null, 2) + '\n', { mode: 0o600 });
    this.state.set(origin, next);
  }
}
