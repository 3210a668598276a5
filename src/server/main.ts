/**
 * Composition root: the one place that reads configuration, opens files and wires the parts together.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { z } from 'zod';
import { mkdirDurable, removeStaleTempFiles, writeFileDurable } from '../files/durable.ts';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { pino, type Logger } from 'pino';
import { SqliteEventStore } from '../store/sqlite.ts';
import { KurrentDBEventStore } from '../store/kurrentdb.ts';
import { PostgresEventStore } from '../store/postgres.ts';
import type { EventStore } from '../store/event-store.ts';
import { Ledger, type StationKeyDirectory } from '../write/pipeline.ts';
import { ProjectionRunner } from '../read/projection-runner.ts';
import { READ_MODEL_PROJECTIONS, type LiveReadModel, type ReadModel } from '../read/read-model.ts';
import { ReadSideThread } from '../read/read-side-worker.ts';
import { SbomStore } from '../files/sbom-store.ts';
import { createApp } from '../api/app.ts';
import { RequestGate } from '../api/shutdown.ts';
import { TokenStore, addTokenHash, newToken, type TokenSource } from '../api/tokens.ts';
import { readMlDsaKeyFile, writeMlDsaKeyFile } from '../files/ml-dsa-key-file.ts';
import { newMlDsaSigner, type MlDsaSigner } from '../crypto/ml-dsa.ts';
import { formatMlDsaVerifierKey } from '../tlog/ml-dsa-note.ts';
import { KeyFileError, readPublicKeyList, readSecretKeyFile, writePublicKeyList, writeSecretKeyFile } from '../files/key-file.ts';
import { newSigner, type Signer } from '../crypto/ed25519.ts';
import { MerkleLog } from '../read/merkle-log.ts';
import { MerkleAppendThread } from '../read/merkle-append-thread.ts';
import { fileLedgerLog, type LedgerLog } from '../read/ledger-log.ts';
import { openSharedLog, type SharedLog } from './log-writer.ts';
import { stdoutPerTurn } from './log-destination.ts';
import { Checkpointer } from '../write/checkpointer.ts';
import { formatVerifierKey, parseVerifierKey } from '../tlog/note.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { LEDGER_KEY_ROTATIONS_STREAM } from '../event/streams.ts';
import { fromHex } from '../crypto/encoding.ts';
import { SignatureVerifierPool } from '../native/signature-pool.ts';
import { lockDataDirectory } from '../files/dir-lock.ts';
import { checkRecentLeaves, checkSignedCheckpoint } from '../read/log-integrity.ts';
import { ConfigError, LEDGER_URL_FILE, type LedgerConfig } from './config.ts';
import { WitnessSet } from '../witness/client.ts';
import { describeQuorum, parseWitnessPolicy, PolicyError, type WitnessPolicy } from '../tlog/policy.ts';
import { ensurePrivateFile, secureDataDirectory } from './data-dir.ts';
import { keysWithoutBackup } from './backup.ts';
import { Plant, publisherFile } from '../plant/plant.ts';
import { UNIT_MAP_KEY_FILE, UnitMapIndex, unitMapKey } from '../read/unit-map.ts';
import { PostgresUnitMapStorage } from '../read/postgres-unit-map.ts';
import { indexLogOrigin } from '../verify/map-commitment.ts';

export { ConfigError, configFromEnv, type LedgerConfig } from './config.ts';

export { READ_MODEL_PROJECTIONS } from '../read/read-model.ts';

/** Derived files of a data directory: both can be rebuilt from the event store. */
export const readModelFile = (config: LedgerConfig): string => join(config.dataDir, 'readmodel.sqlite');
export const merkleLogFile = (config: LedgerConfig): string => join(config.dataDir, 'merkle.sqlite');
export const unitMapFile = (config: LedgerConfig): string => join(config.dataDir, 'unit-map.sqlite');

/** The event store the configuration asks for. */
export function openEventStore(config: LedgerConfig): EventStore {
  if (config.store === 'sqlite') return new SqliteEventStore(join(config.dataDir, 'events.sqlite'), { writerThread: true });
  if (config.store === 'postgres') {
    if (!config.postgresUrl) throw new ConfigError('FLASHTRAIL_STORE=postgres needs FLASHTRAIL_POSTGRES_URL, e.g. postgres://flashtrail@localhost:5432/flashtrail');
    if (!/^[a-z_][a-z0-9_]{0,39}$/.test(config.postgresSchema)) throw new ConfigError(`FLASHTRAIL_POSTGRES_SCHEMA must be a lower-case SQL name of at most 40 characters, not ${config.postgresSchema}`);
    return new PostgresEventStore(config.postgresUrl, { schema: config.postgresSchema });
  }
  if (!config.eventStoreConnectionString) throw new ConfigError('FLASHTRAIL_STORE=eventstoredb needs FLASHTRAIL_EVENTSTORE_CONNECTION_STRING, e.g. esdb://localhost:2113?tls=false');
  return new KurrentDBEventStore(config.eventStoreConnectionString);
}

export interface InitResult {
  readonly created: boolean;
  readonly adminKeyFile: string;
  readonly adminTokenFile: string;
  readonly ledgerKeyFile: string;
  /** `<origin>+<key id>+<key>`: what verifiers pin. */
  readonly verifierKey: string;
}

export interface LedgerIdentity {
  readonly origin: string;
  readonly key: Signer;
  readonly verifierKey: string;
  /** The post-quantum key (ledger-ml-dsa.key) and its C2SP vkey; null when FLASHTRAIL_PQ_SIGNATURES=off. */
  readonly mlDsaKey: MlDsaSigner | null;
  readonly mlDsaVerifierKey: string | null;
  /**
   * The Ed25519 key `flashtrail keys rotate` replaced, while its LedgerKeyRotated record is not yet in the log
   * (ledger.json `rotatedFrom`): the next start announces the new key under it, then forgets it.
   */
  readonly rotatedFrom: Signer | null;
  /**
   * The ML-DSA-44 key `flashtrail keys rotate --ml-dsa` replaced, while its LedgerKeyRotated record (version 2)
   * is not yet in the log (ledger.json `mlDsaRotatedFrom`): the next start has it sign the link to the new key.
   */
  readonly mlDsaRotatedFrom: MlDsaSigner | null;
}

const LedgerInfo = z.strictObject({
  origin: z.string().regex(/^[^\s+]+$/u),
  /** Written only after ledger.key is durable: a ledger.json with no ledger.key beside it means a lost key. */
  keyId: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** Written only after ledger-ml-dsa.key is durable, as keyId is. */
  mlDsaKeyId: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** Set by `flashtrail keys rotate` (src/server/ledger-key-rotation.ts), cleared once the rotation is logged. */
  rotatedFrom: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** Set by `flashtrail keys rotate --ml-dsa`, cleared once the rotation is logged. */
  mlDsaRotatedFrom: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type LedgerInfoFile = z.infer<typeof LedgerInfo>;

export function readLedgerInfo(file: string): z.infer<typeof LedgerInfo> {
  try {
    return LedgerInfo.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    throw new KeyFileError(`${file} is empty or damaged (expected {"origin": …}): restore it from your backup`);
  }
}

/**
 * The ledger's own key (signs checkpoints) and its log origin, created once per data directory, in an
 * order a crash cannot break: ledger.key first, then ledger.json naming its key id. A ledger.json without
 * its key is a lost key and is refused: a new one would silently give the log a second identity.
 */
export function ledgerIdentity(config: LedgerConfig): LedgerIdentity {
  const keyFile = join(config.dataDir, 'ledger.key');
  const infoFile = join(config.dataDir, 'ledger.json');
  const hasKey = existsSync(keyFile);
  const hasInfo = existsSync(infoFile);
  if (!hasKey && hasInfo) {
    const { keyId } = readLedgerInfo(infoFile);
    throw new KeyFileError(`${keyFile} is missing${keyId ? ` (key id ${keyId})` : ''}: it is the log's signing key; restore it from your backup`);
  }
  if (!hasKey) writeSecretKeyFile(keyFile, newSigner(), 'flashtrail ledger key: signs checkpoints');
  const key = readSecretKeyFile(keyFile);
  if (!hasInfo) {
    const origin = config.originForNewLedger ?? `flashtrail.local/${randomBytes(4).toString('hex')}`;
    if (!/^[^\s+]+$/u.test(origin)) throw new ConfigError(`log origin ${origin} must not contain spaces or '+'`);
    // A new ledger gets its ML-DSA-44 key before ledger.json, so that ledger.json is written once, naming both.
    const pqFile = join(config.dataDir, 'ledger-ml-dsa.key');
    if (config.pqSignatures !== 'off' && !existsSync(pqFile)) writeMlDsaKeyFile(pqFile, newMlDsaSigner(), 'flashtrail ledger ML-DSA-44 key: signs checkpoints beside ledger.key');
    const mlDsaKeyId = existsSync(pqFile) ? readMlDsaKeyFile(pqFile).keyId : undefined;
    writeFileDurable(infoFile, JSON.stringify({ origin, keyId: key.keyId, ...(mlDsaKeyId ? { mlDsaKeyId } : {}) }, null, 2) + '\n', { mode: 0o600 });
  }
  let info = readLedgerInfo(infoFile);
  if (info.keyId !== undefined && info.keyId !== key.keyId) {
    // `keys rotate` stopped between replacing ledger.key and writing ledger.json: the old key is archived, the
    // new one not yet announced; finish what it started.
    if (info.rotatedFrom === undefined && existsSync(archivedLedgerKeyFile(config.dataDir, info.keyId))) {
      info = { ...info, keyId: key.keyId, rotatedFrom: info.keyId };
      writeFileDurable(infoFile, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    } else {
      throw new KeyFileError(`${keyFile} holds key ${key.keyId}, but ${infoFile} names ${info.keyId}: restore the matching pair from your backup`);
    }
  }
  const rotatedFrom = info.rotatedFrom !== undefined ? readSecretKeyFile(archivedLedgerKeyFile(config.dataDir, info.rotatedFrom)) : null;
  if (rotatedFrom && rotatedFrom.keyId !== info.rotatedFrom) throw new KeyFileError(`${archivedLedgerKeyFile(config.dataDir, info.rotatedFrom as string)} holds key ${rotatedFrom.keyId}, not ${String(info.rotatedFrom)}: restore it from your backup`);
  const { key: mlDsaKey, rotatedFrom: mlDsaRotatedFrom } = ledgerMlDsaKey(config, infoFile, info);
  return { origin: info.origin, key, verifierKey: formatVerifierKey(info.origin, key.publicKey), mlDsaKey, mlDsaVerifierKey: mlDsaKey ? formatMlDsaVerifierKey(info.origin, mlDsaKey.publicKey) : null, rotatedFrom, mlDsaRotatedFrom };
}

/** Where `keys rotate` keeps a replaced ledger key, for the record: ledger.key.<key id>. */
export function archivedLedgerKeyFile(dataDir: string, keyId: string): string {
  return join(dataDir, `ledger.key.${keyId}`);
}

/** Where `keys rotate --ml-dsa` keeps a replaced ML-DSA-44 key: ledger-ml-dsa.key.<key id>. */
export function archivedMlDsaKeyFile(dataDir: string, keyId: string): string {
  return join(dataDir, `ledger-ml-dsa.key.${keyId}`);
}

/** The Ed25519 links of the log's key rotation chain, oldest first (docs/format.md §5.4). */
async function ed25519Rotations(store: EventStore): Promise<{ previousKeyId: string; previousPublicKey: string; keyId: string; verifierKey: string }[]> {
  const out = [];
  for (const recorded of await store.readStream(LEDGER_KEY_ROTATIONS_STREAM)) {
    const { event } = decodeTrustedEnvelope(recorded.data, nativeCrypto);
    if (event.type === 'LedgerKeyRotated' && event.data.algorithm === 'ed25519') out.push(event.data);
  }
  return out;
}

/** Whether the log holds the LedgerKeyRotated that introduces `keyId` (an Ed25519 or an ML-DSA-44 key). */
async function rotationLogged(store: EventStore, keyId: string): Promise<boolean> {
  for (const recorded of await store.readStream(LEDGER_KEY_ROTATIONS_STREAM)) {
    const { event } = decodeTrustedEnvelope(recorded.data, nativeCrypto);
    if (event.type === 'LedgerKeyRotated' && event.data.keyId === keyId) return true;
  }
  return false;
}

/**
 * The pinned keys of a shared log this instance's key continues: the key ledger.json says it replaced, and
 * every key of the log's rotation chain when that chain ends at this instance's key.
 */
async function keysContinuedBy(store: PostgresEventStore, identity: LedgerIdentity): Promise<string[]> {
  const keys = identity.rotatedFrom ? [formatVerifierKey(identity.origin, identity.rotatedFrom.publicKey)] : [];
  const chain = await ed25519Rotations(store);
  if (chain.at(-1)?.keyId === identity.key.keyId) {
    for (const link of chain) keys.push(formatVerifierKey(identity.origin, fromHex(link.previousPublicKey)), link.verifierKey);
  }
  return keys;
}

/** The rotation is in the log: ledger.json stops naming the replaced key (its file stays, for the record). */
function forgetRotatedKey(config: LedgerConfig, member: 'rotatedFrom' | 'mlDsaRotatedFrom'): void {
  const infoFile = join(config.dataDir, 'ledger.json');
  const { [member]: _done, ...info } = readLedgerInfo(infoFile);
  writeFileDurable(infoFile, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
}

/**
 * The ledger's ML-DSA-44 key, created beside ledger.key the first time the ledger starts with post-quantum
 * signatures (a new ledger, or one from before them), in the same crash-safe order: the key file, then
 * ledger.json naming it. A ledger.json naming a key whose file is gone is a lost key and is refused.
 */
function ledgerMlDsaKey(config: LedgerConfig, infoFile: string, info: z.infer<typeof LedgerInfo>): { key: MlDsaSigner | null; rotatedFrom: MlDsaSigner | null } {
  const file = join(config.dataDir, 'ledger-ml-dsa.key');
  const hasKey = existsSync(file);
  if (!hasKey && info.mlDsaKeyId !== undefined) throw new KeyFileError(`${file} is missing (key id ${info.mlDsaKeyId}): it is the log's post-quantum signing key; restore it from your backup`);
  if (config.pqSignatures === 'off') {
    if (info.mlDsaRotatedFrom !== undefined) throw new ConfigError(`the ML-DSA-44 key rotation from ${info.mlDsaRotatedFrom} is not in the log yet: start the ledger with post-quantum signatures on (FLASHTRAIL_PQ_SIGNATURES) to announce it`);
    return { key: null, rotatedFrom: null };
  }
  if (!hasKey) writeMlDsaKeyFile(file, newMlDsaSigner(), 'flashtrail ledger ML-DSA-44 key: signs checkpoints beside ledger.key');
  const key = readMlDsaKeyFile(file);
  if (info.mlDsaKeyId === undefined) writeFileDurable(infoFile, JSON.stringify({ ...info, mlDsaKeyId: key.keyId }, null, 2) + '\n', { mode: 0o600 });
  else if (info.mlDsaKeyId !== key.keyId) {
    // `keys rotate --ml-dsa` stopped between replacing the key file and writing ledger.json: finish what it started.
    if (info.mlDsaRotatedFrom === undefined && existsSync(archivedMlDsaKeyFile(config.dataDir, info.mlDsaKeyId))) {
      info = { ...info, mlDsaKeyId: key.keyId, mlDsaRotatedFrom: info.mlDsaKeyId };
      writeFileDurable(infoFile, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
    } else {
      throw new KeyFileError(`${file} holds key ${key.keyId}, but ${infoFile} names ${info.mlDsaKeyId}: restore the matching pair from your backup`);
    }
  }
  if (info.mlDsaRotatedFrom === undefined) return { key, rotatedFrom: null };
  const archived = archivedMlDsaKeyFile(config.dataDir, info.mlDsaRotatedFrom);
  const rotatedFrom = readMlDsaKeyFile(archived);
  if (rotatedFrom.keyId !== info.mlDsaRotatedFrom) throw new KeyFileError(`${archived} holds key ${rotatedFrom.keyId}, not ${info.mlDsaRotatedFrom}: restore it from your backup`);
  return { key, rotatedFrom };
}

/**
 * First start: a data directory (0700) with an administrator signing key (0600), the list of trusted
 * administrator keys, and an admin token whose plaintext goes to a 0600 file, never to a log. Every file
 * is written durably, and each step is resumable: a crash during initialisation leaves what is done, and
 * the next start completes the rest (never a second admin key, never a token whose plaintext was lost).
 */
export function initDataDir(config: LedgerConfig): InitResult {
  const adminKeyFile = join(config.dataDir, 'admin.key');
  const adminTokenFile = join(config.dataDir, 'admin.token');
  const ledgerKeyFile = join(config.dataDir, 'ledger.key');
  mkdirDurable(config.dataDir, 0o700);
  removeStaleTempFiles(config.dataDir);
  const { verifierKey } = ledgerIdentity(config);
  unitMapKey(join(config.dataDir, UNIT_MAP_KEY_FILE));
  let created = false;
  if (!existsSync(config.adminKeysFile)) {
    const admin = existsSync(adminKeyFile) ? readSecretKeyFile(adminKeyFile) : newSigner();
    if (!existsSync(adminKeyFile)) writeSecretKeyFile(adminKeyFile, admin, 'flashtrail administrator key');
    writePublicKeyList(config.adminKeysFile, [{ keyId: admin.keyId, publicKey: admin.publicKey, name: 'admin' }]);
    created = true;
  }
  if (config.tokensJson === null && !existsSync(config.tokensFile)) {
    // The plaintext first: a crash before the token list exists leaves a token that never worked, and the
    // next start replaces it.
    const token = newToken();
    writeFileDurable(adminTokenFile, token + '\n', { mode: 0o600 });
    addTokenHash(config.tokensFile, { name: 'admin', role: 'admin' }, token);
    created = true;
  }
  return { created, adminKeyFile, adminTokenFile, ledgerKeyFile, verifierKey };
}

export interface RunningLedger {
  readonly url: string;
  readonly port: number;
  readonly store: EventStore;
  readonly projections: LiveReadModel;
  readonly ledger: Ledger;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  /** The unit history map and its index log (docs/format.md §15), on a shared PostgreSQL log too (docs/shared-log.md §1). */
  readonly unitMap: UnitMapIndex;
  readonly identity: LedgerIdentity;
  /** The plant broker's publisher and interlock; null when FLASHTRAIL_CFX_BROKER_URL is unset. */
  readonly plant: Plant | null;
  /** Drains in-flight requests, then closes everything; `reason` (the signal) goes to the log. */
  close(reason?: string): Promise<void>;
}

/** How long a shutdown waits for requests in flight before it cuts them off. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Starts the ledger on its data directory, in an order where nothing is served before it is checked:
 *
 *   lock the directory → check file modes → initialise (or resume) → open the stores → compare the newest
 *   Merkle leaves with the event store → catch the log up → check the newest signed checkpoint → record the
 *   trusted administrator keys → listen → connect to the plant broker (IPC-CFX), when one is configured.
 *
 * Any failure on the way is thrown (the CLI prints it as one line) and everything opened is closed again.
 */
export async function startLedgerServer(config: LedgerConfig, logger: Logger = pino({ level: config.logLevel }, stdoutPerTurn())): Promise<RunningLedger> {
  mkdirDurable(config.dataDir, 0o700);
  const cleanup: (() => unknown)[] = [];
  const undo = async () => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // closing what a failed start opened: the first error is the one to report
      }
    }
  };
  try {
    const lock = lockDataDirectory(config.dataDir);
    cleanup.push(() => lock.release());
    for (const warning of secureDataDirectory(config)) logger.warn({ dataDir: config.dataDir }, warning);

    const init = initDataDir(config);
    if (init.created) {
      logger.info({ adminKeyFile: init.adminKeyFile, adminTokenFile: init.adminTokenFile }, 'initialised a new data directory');
    }
    const unsaved = keysWithoutBackup(config);
    if (unsaved.length > 0) {
      logger.warn({ files: unsaved }, `no backup of ${unsaved.join(' and ')} is recorded: they are the log's identity and its administrator; copy them offline now (flashtrail keys backup --to DIR)`);
    }
    const tokens: TokenSource =
      config.tokensJson !== null
        ? TokenStore.fromJson(config.tokensJson)
        : TokenStore.fromFile(config.tokensFile, {
            onReloadProblem: (problem) => (problem === null ? logger.info({ file: config.tokensFile }, 'token file reloaded') : logger.error({ file: config.tokensFile }, problem)),
          });
    const adminKeys = readPublicKeyList(config.adminKeysFile);
    const identity = ledgerIdentity(config);

    for (const file of [join(config.dataDir, 'events.sqlite'), merkleLogFile(config), readModelFile(config), unitMapFile(config)]) {
      if (config.store === 'sqlite' || !file.endsWith('events.sqlite')) ensurePrivateFile(file);
    }
    const store = openEventStore(config);
    cleanup.push(() => store.close());
    // On SQLite the read side runs on its own thread, off the one that serves requests (src/read/read-side-worker.ts).
    const rebuilding = (reason: string) => logger.warn({ file: readModelFile(config) }, reason);
    const projections: LiveReadModel =
      store instanceof SqliteEventStore && config.readSideThread
        ? await ReadSideThread.open(store, { eventsFile: store.file, readModelFile: readModelFile(config) }, rebuilding)
        : ProjectionRunner.openOrRebuild(store, readModelFile(config), READ_MODEL_PROJECTIONS, rebuilding);
    cleanup.push(() => projections.close());
    // On PostgreSQL the Merkle log lives beside the events, shared by every instance and extended only by the
    // elected log writer (src/server/log-writer.ts); otherwise it is a file in the data directory.
    const shared: SharedLog | null = store instanceof PostgresEventStore ? await openSharedLog(store, identity.verifierKey, logger, { acceptedKeys: await keysContinuedBy(store, identity) }) : null;
    if (shared) cleanup.push(() => shared.close());
    const fileLog = shared ? null : new MerkleLog(store, merkleLogFile(config));
    if (fileLog) {
      cleanup.push(() => fileLog.closeAll());
      // On SQLite the leaves are appended on a thread of their own, off the one that serves requests
      // (src/read/merkle-append-thread.ts); the format was checked (or migrated) above, on this thread.
      if (store instanceof SqliteEventStore && config.merkleThread) fileLog.appendOn(await MerkleAppendThread.open({ eventsFile: store.file, merkleFile: merkleLogFile(config) }));
      // Nothing derived is trusted before it is compared with the event store and the signed checkpoints.
      const rederived = fileLog.size === 0;
      const compared = await checkRecentLeaves(store, fileLog, config.startCheckLeaves, nativeCrypto);
      await fileLog.catchUp();
      // Until a rotation is logged, the newest checkpoint is the replaced key's.
      const signingKeys = [identity.verifierKey, ...(identity.rotatedFrom ? [formatVerifierKey(identity.origin, identity.rotatedFrom.publicKey)] : [])].map(parseVerifierKey);
      const signed = await checkSignedCheckpoint(store, fileLog, signingKeys, nativeCrypto);
      if (rederived && signed.size !== null) {
        logger.warn({ file: merkleLogFile(config), leaves: fileLog.size }, `the Merkle log was empty or missing: re-derived from the event store, it reproduces signed checkpoint ${signed.size}`);
      }
      logger.info({ comparedLeaves: compared, leaves: fileLog.size, signedCheckpoint: signed.size }, 'the event store matches the Merkle log and the newest signed checkpoint');
    }
    const log: LedgerLog = shared?.log ?? fileLedgerLog(fileLog as MerkleLog);

    const witnesses = config.witnessPolicyFile ? witnessSetFor(config, identity.verifierKey, logger) : null;
    // Only SQLite's locked data directory guarantees this process is the store's one writer (stream heads cached).
    // Signatures are verified on worker threads beside the one thread that decides and writes.
    const signatures = config.verifyThreads > 0 ? new SignatureVerifierPool(config.verifyThreads) : undefined;
    if (signatures) cleanup.push(() => signatures.close());
    const ledger = new Ledger({ store, clock: () => new Date(), adminKeys, stationKeys: stationKeyDirectory(projections), singleWriter: config.store === 'sqlite', ...(signatures ? { signatures } : {}) });
    const checkpointer = new Checkpointer({
      store,
      log,
      ledgerKey: identity.key,
      mlDsaKey: identity.mlDsaKey,
      origin: identity.origin,
      clock: () => new Date(),
      everyEvents: config.checkpointEveryEvents,
      intervalMs: config.checkpointIntervalMs,
      logger,
      ...(shared ? { leadership: shared.leadership } : {}),
      ...(witnesses ? { witnesses } : {}),
      // On a shared log the elected writer announces the rotation before its first checkpoint (docs/shared-log.md §2.2).
      ...(shared && identity.rotatedFrom ? { rotatedFrom: identity.rotatedFrom } : {}),
      ...(shared && identity.mlDsaRotatedFrom ? { mlDsaRotatedFrom: identity.mlDsaRotatedFrom } : {}),
    });
    await checkpointer.open();
    if (shared && (identity.rotatedFrom || identity.mlDsaRotatedFrom)) {
      // Every instance, not only the announcer, forgets a replaced key once the log holds its rotation.
      const pending = [
        ...(identity.rotatedFrom ? [{ member: 'rotatedFrom' as const, previousKeyId: identity.rotatedFrom.keyId, keyId: identity.key.keyId, what: 'ledger key' }] : []),
        ...(identity.mlDsaRotatedFrom && identity.mlDsaKey ? [{ member: 'mlDsaRotatedFrom' as const, previousKeyId: identity.mlDsaRotatedFrom.keyId, keyId: identity.mlDsaKey.keyId, what: 'ML-DSA-44 ledger key' }] : []),
      ];
      const forgetWhenLogged = async (): Promise<boolean> => {
        for (const rotation of [...pending]) {
          if (!(await rotationLogged(store, rotation.keyId))) continue;
          forgetRotatedKey(config, rotation.member);
          logger.info({ previousKeyId: rotation.previousKeyId, keyId: rotation.keyId }, `${rotation.what} rotation is in the log: ledger.json no longer names the replaced key`);
          pending.splice(pending.indexOf(rotation), 1);
        }
        return pending.length === 0;
      };
      if (!(await forgetWhenLogged())) {
        const timer = setInterval(() => {
          void forgetWhenLogged().then(
            (done) => done && clearInterval(timer),
            (error: unknown) => logger.warn({ err: (error as Error).message }, 'could not check for the ledger key rotation'),
          );
        }, 1000);
        timer.unref();
        cleanup.push(() => clearInterval(timer));
      }
    } else if (identity.rotatedFrom || identity.mlDsaRotatedFrom) {
      // Each announced under the key it replaces (the ML-DSA-44 link's envelope by the Ed25519 key now in force),
      // then a checkpoint by the new keys covers them, before anything else is signed.
      if (identity.rotatedFrom) await checkpointer.announceLedgerKeyRotation(identity.rotatedFrom);
      if (identity.mlDsaRotatedFrom) await checkpointer.announceMlDsaKeyRotation(identity.mlDsaRotatedFrom);
      await checkpointer.issue();
      if (identity.rotatedFrom) {
        forgetRotatedKey(config, 'rotatedFrom');
        logger.info({ previousKeyId: identity.rotatedFrom.keyId, keyId: identity.key.keyId }, 'ledger key rotation announced in the log');
      }
      if (identity.mlDsaRotatedFrom) {
        forgetRotatedKey(config, 'mlDsaRotatedFrom');
        logger.info({ previousKeyId: identity.mlDsaRotatedFrom.keyId, keyId: identity.mlDsaKey?.keyId }, 'ML-DSA-44 ledger key rotation announced in the log');
      }
    }
    await checkpointer.recordTrustedAdminKeys(adminKeys);
    if (!shared || shared.leadership.isLeader()) await checkpointer.announceMlDsaKey();
    if (shared) shared.start(checkpointer);
    checkpointer.start();
    cleanup.push(() => checkpointer.stop());
    // The map of every unit's history, committed for each checkpoint in the index log. On a shared log every
    // instance derives it from the events; the elected log writer alone commits and signs (docs/shared-log.md §1).
    const unitMapSigner = unitMapKey(join(config.dataDir, UNIT_MAP_KEY_FILE));
    const unitMapStorage = shared ? await PostgresUnitMapStorage.open(store as PostgresEventStore, shared.log, formatVerifierKey(indexLogOrigin(identity.origin), unitMapSigner.publicKey)) : null;
    const unitMap = await UnitMapIndex.open({
      store,
      ...(unitMapStorage ? { storage: unitMapStorage } : { file: unitMapFile(config) }),
      ledgerOrigin: identity.origin,
      key: unitMapSigner,
      mlDsaKey: identity.mlDsaKey,
      logger,
      ...(witnesses ? { witnesses } : {}),
    });
    cleanup.push(() => unitMap.close());
    unitMap.start();
    cleanup.push(() => unitMap.stop());
    logger.info({ indexLogKey: unitMap.verifierKey }, 'the unit history map is committed in its index log');
    await projections.catchUp();
    const passFailed = (error: unknown) => logger.error({ err: { message: (error as Error).message } }, 'projection pass failed; retried with the next event');
    cleanup.push(() => projections.stop());
    // A SQLite store is written by this process alone and tells it of each commit; a shared PostgreSQL log is
    // written by other instances too, so its new rows are read from a subscription.
    projections.start(passFailed, config.projectionSettleMs, store instanceof SqliteEventStore ? (listener) => store.onAppended(listener) : undefined);
    let plant: Plant | null = null;
    const plantStats = async () => (plant ? plant.stats() : null);
    const gate = new RequestGate();
    const app = createApp({
      gate,
      ledger,
      store,
      projections,
      tokens,
      logger,
      log,
      checkpointer,
      unitMap,
      verifierKey: identity.verifierKey,
      mlDsaVerifierKey: identity.mlDsaVerifierKey,
      ledgerKey: identity.key,
      mlDsaKey: identity.mlDsaKey,
      origin: identity.origin,
      maxBodyBytes: config.maxBodyBytes,
      plantStats,
      sboms: new SbomStore(join(config.dataDir, 'sboms')),
      ...(config.store === 'sqlite' ? { storeBytes: () => sqliteBytes(join(config.dataDir, 'events.sqlite')) } : {}),
    });

    const server = await new Promise<ReturnType<typeof serve>>((resolveServer, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolveServer(s));
      s.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    // Where the client commands on this data directory find the ledger (src/cli/input.ts resolveLedgerUrl).
    writeFileDurable(join(config.dataDir, LEDGER_URL_FILE), url + '\n', { mode: 0o600 });
    logger.info({ url, dataDir: config.dataDir, verifierKey: identity.verifierKey }, 'flashtrail ledger listening');

    // After every start-up check and once the URL is known (provenance links name it); stopped first on close.
    if (config.cfx) {
      ensurePrivateFile(publisherFile(config.dataDir));
      if (!config.cfx.ledgerBaseUrl && /^(0\.0\.0\.0|::)$/.test(config.host)) {
        logger.warn({ url }, 'the ledger listens on every interface: set FLASHTRAIL_CFX_LEDGER_URL to the URL the MES reaches it at, for the provenance links in CFX messages');
      }
      // On a shared store every instance answers the interlock, but only the elected log writer publishes.
      const publishWhile = shared ? () => shared.leadership.isLeader() : undefined;
      const started = await Plant.start(config.cfx, { store, projections, dataDir: config.dataDir, ledgerUrl: url, logger, ...(publishWhile ? { publishWhile } : {}) });
      plant = started;
      cleanup.push(() => started.stop());
    }

    /**
     * Graceful: stop accepting connections, refuse new requests on open ones (503, Connection: close), let
     * those in flight finish (an append acknowledged is durable: the store committed it before the answer),
     * then close the connections, stop the checkpointer and projections and close the stores.
     */
    const shutdown = async (reason: string) => {
      logger.info({ signal: reason, inFlight: gate.active }, 'shutting down');
      const closed = new Promise<void>((r) => server.close(() => r()));
      const unfinished = await gate.drain(SHUTDOWN_GRACE_MS);
      if (unfinished > 0) logger.warn({ inFlight: unfinished }, `${unfinished} requests still running after ${SHUTDOWN_GRACE_MS / 1000} s are cut off`);
      // Idle keep-alive connections, and streams (an export) that outlive the grace period.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      // No longer listening there: a client command on this data directory must not be sent to a dead port.
      rmSync(join(config.dataDir, LEDGER_URL_FILE), { force: true });
      await undo();
      logger.info({ signal: reason }, 'stopped');
    };
    let closing: Promise<void> | null = null;
    return {
      url,
      port,
      store,
      projections,
      ledger,
      log,
      checkpointer,
      unitMap,
      identity,
      plant,
      close: (reason = 'close') => (closing ??= shutdown(reason)),
    };
  } catch (error) {
    await undo();
    throw error;
  }
}

/** The database file and its write-ahead log, as they take space on disk now. */
function sqliteBytes(file: string): number | null {
  let total = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {
      if (f === file) return null;
    }
  }
  return total;
}

/**
 * The witnesses of the configured policy (docs/format.md §5.2), checked before anything is served: a policy
 * that names another log, or that lists no witness the ledger can reach, is a configuration error.
 */
function witnessSetFor(config: LedgerConfig, verifierKey: string, logger: Logger): WitnessSet {
  const file = config.witnessPolicyFile as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`FLASHTRAIL_WITNESS_POLICY: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let policy: WitnessPolicy;
  try {
    policy = parseWitnessPolicy(text);
  } catch (error) {
    if (error instanceof PolicyError) throw new ConfigError(`FLASHTRAIL_WITNESS_POLICY: ${file}: ${error.message}`);
    throw error;
  }
  const key = parseVerifierKey(verifierKey);
  // After a rotation the policy may still name the log by an earlier key: the origin is the log's identity (§5.4).
  if (policy.logs.length > 0 && !policy.logs.some((l) => l.key.name === key.name)) {
    throw new ConfigError(`FLASHTRAIL_WITNESS_POLICY: ${file} names the logs ${policy.logs.map((l) => l.key.name).join(', ')}, not this ledger (${verifierKey})`);
  }
  if (policy.logs.length > 0 && !policy.logs.some((l) => l.key.name === key.name && l.key.id === key.id)) {
    logger.info({ file, verifierKey }, 'the witness policy names this log by an earlier key; witnesses are shown the rotation records (docs/format.md §5.1.1)');
  }
  const set = new WitnessSet(policy, { timeoutMs: config.witnessTimeoutMs, logger });
  if (set.size === 0) throw new ConfigError(`FLASHTRAIL_WITNESS_POLICY: ${file} gives no witness a submission URL (witness <name> <vkey> <url>): the ledger cannot submit to any`);
  logger.info({ witnesses: policy.witnesses.map((w) => w.name), quorum: describeQuorum(policy) }, 'checkpoints are submitted to witnesses');
  return set;
}

/** Station ids from the read model (caught up first); the pipeline confirms each against its own stream. */
function stationKeyDirectory(projections: ReadModel): StationKeyDirectory {
  return {
    async candidates() {
      await projections.catchUp();
      return projections.findDocs<{ stationId: string }>('production', 'kind', 'station').map((s) => s.stationId);
    },
  };
}
