/**
 * `flashtrail keys rotate`: replaces the ledger's Ed25519 key in its data directory, with the ledger stopped
 * (the data directory lock proves it): the running ledger is the one writer of its key files and holds its key
 * in memory, so a key changed under it would sign nothing, or sign with a key the log never announced. The next
 * start announces the new key by a LedgerKeyRotated record signed with the old one (src/write/checkpointer.ts)
 * and signs every later checkpoint with the new one. The origin stays: it is the log's identity.
 *
 * Crash-safe order, each file durable: the old key archived as ledger.key.<key id> (never overwritten), then
 * ledger.key replaced by the new key, then ledger.json naming it with `rotatedFrom`. Stopped after the second
 * step, the next start sees the archived key ledger.json names and finishes the third (src/server/main.ts).
 *
 * `flashtrail keys rotate --ml-dsa` replaces the ML-DSA-44 key the same way (ledger-ml-dsa.key, archived as
 * ledger-ml-dsa.key.<key id>, ledger.json `mlDsaRotatedFrom`); the next start has the old key sign the link to
 * the new one, in a LedgerKeyRotated record (version 2, docs/format.md §5.5).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { newSigner, type Signer } from '../crypto/ed25519.ts';
import { lockDataDirectory } from '../files/dir-lock.ts';
import { writeFileDurable } from '../files/durable.ts';
import { KeyFileError, readSecretKeyFile, replaceSecretKeyFile, writeSecretKeyFile } from '../files/key-file.ts';
import { formatVerifierKey } from '../tlog/note.ts';
import { newMlDsaSigner, type MlDsaSigner } from '../crypto/ml-dsa.ts';
import { readMlDsaKeyFile, replaceMlDsaKeyFile, writeMlDsaKeyFile } from '../files/ml-dsa-key-file.ts';
import { formatMlDsaVerifierKey } from '../tlog/ml-dsa-note.ts';
import { archivedLedgerKeyFile, archivedMlDsaKeyFile, readLedgerInfo } from './main.ts';

export interface LedgerKeyRotation {
  readonly previousKeyId: string;
  readonly keyId: string;
  /** What verifiers pin from now on (those pinned to the old key follow the chain). */
  readonly verifierKey: string;
  readonly archivedKeyFile: string;
}

/** `next`: the new key (a fresh random one; the vector generator gives a seeded one so its chain reproduces). */
export function rotateLedgerKey(dataDir: string, next: Signer = newSigner()): LedgerKeyRotation {
  const lock = lockDataDirectory(dataDir, 'flashtrail keys rotate');
  try {
    const keyFile = join(dataDir, 'ledger.key');
    const infoFile = join(dataDir, 'ledger.json');
    if (!existsSync(infoFile) || !existsSync(keyFile)) throw new KeyFileError(`${dataDir} holds no ledger (ledger.key and ledger.json): start the ledger once before rotating its key`);
    const info = readLedgerInfo(infoFile);
    if (info.rotatedFrom !== undefined) {
      throw new KeyFileError(`the rotation from ${info.rotatedFrom} to ${String(info.keyId)} is not in the log yet: start the ledger once (it announces the new key), then rotate again`);
    }
    const old = readSecretKeyFile(keyFile);
    if (info.keyId !== undefined && info.keyId !== old.keyId) throw new KeyFileError(`${keyFile} holds key ${old.keyId}, but ${infoFile} names ${info.keyId}: restore the matching pair from your backup`);
    const archived = archivedLedgerKeyFile(dataDir, old.keyId);
    if (!existsSync(archived)) writeSecretKeyFile(archived, old, `flashtrail ledger key ${old.keyId}, replaced by keys rotate: signed checkpoints before the rotation`);
    else if (readSecretKeyFile(archived).keyId !== old.keyId) throw new KeyFileError(`${archived} exists and holds another key: refusing to overwrite it`);
    replaceSecretKeyFile(keyFile, next, 'flashtrail ledger key: signs checkpoints');
    writeFileDurable(infoFile, JSON.stringify({ ...info, keyId: next.keyId, rotatedFrom: old.keyId }, null, 2) + '\n', { mode: 0o600 });
    return { previousKeyId: old.keyId, keyId: next.keyId, verifierKey: formatVerifierKey(info.origin, next.publicKey), archivedKeyFile: archived };
  } finally {
    lock.release();
  }
}

export function rotateMlDsaKey(dataDir: string, next: MlDsaSigner = newMlDsaSigner()): LedgerKeyRotation {
  const lock = lockDataDirectory(dataDir, 'flashtrail keys rotate --ml-dsa');
  try {
    const keyFile = join(dataDir, 'ledger-ml-dsa.key');
    const infoFile = join(dataDir, 'ledger.json');
    if (!existsSync(infoFile)) throw new KeyFileError(`${dataDir} holds no ledger (ledger.json): start the ledger once before rotating its key`);
    const info = readLedgerInfo(infoFile);
    if (!existsSync(keyFile) || info.mlDsaKeyId === undefined) throw new KeyFileError(`${dataDir} holds no ML-DSA-44 ledger key (ledger-ml-dsa.key named in ledger.json): start the ledger once with post-quantum signatures on before rotating it`);
    if (info.mlDsaRotatedFrom !== undefined) {
      throw new KeyFileError(`the ML-DSA-44 rotation from ${info.mlDsaRotatedFrom} to ${info.mlDsaKeyId} is not in the log yet: start the ledger once (it announces the new key), then rotate again`);
    }
    const old = readMlDsaKeyFile(keyFile);
    if (info.mlDsaKeyId !== old.keyId) throw new KeyFileError(`${keyFile} holds key ${old.keyId}, but ${infoFile} names ${info.mlDsaKeyId}: restore the matching pair from your backup`);
    const archived = archivedMlDsaKeyFile(dataDir, old.keyId);
    if (!existsSync(archived)) writeMlDsaKeyFile(archived, old, `flashtrail ledger ML-DSA-44 key ${old.keyId}, replaced by keys rotate --ml-dsa: signed checkpoints before the rotation, and signs the link to its successor`);
    else if (readMlDsaKeyFile(archived).keyId !== old.keyId) throw new KeyFileError(`${archived} exists and holds another key: refusing to overwrite it`);
    replaceMlDsaKeyFile(keyFile, next, 'flashtrail ledger ML-DSA-44 key: signs checkpoints beside ledger.key');
    writeFileDurable(infoFile, JSON.stringify({ ...info, mlDsaKeyId: next.keyId, mlDsaRotatedFrom: old.keyId }, null, 2) + '\n', { mode: 0o600 });
    return { previousKeyId: old.keyId, keyId: next.keyId, verifierKey: formatMlDsaVerifierKey(info.origin, next.publicKey), archivedKeyFile: archived };
  } finally {
    lock.release();
  }
}
