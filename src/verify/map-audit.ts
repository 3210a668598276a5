/**
 * A monitor's check of the index log (docs/format.md §15.3): rebuild the unit history map (and, from the v2
 * switch on, the firmware values of §15.6 in the same tree) from the log's entries,
 * in leaf order, and compare it with every commitment the index log holds. The entries are tied to the signed
 * ledger checkpoint by their RFC 6962 root (each commitment names a checkpoint whose root the entries must give),
 * and the commitment leaves to the signed index checkpoint by theirs. An insider holding the index log's key can
 * sign a map root that hides an event; only a rebuild like this one (or the witnesses refusing a fork) shows it.
 * Pure.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { bytesEqual, toHex, utf8 } from '../crypto/encoding.ts';
import { leafHash } from '../merkle/hash.ts';
import { MemoryTree, rootHash } from '../merkle/proofs.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import { CheckpointFormatError } from '../tlog/checkpoint.ts';
import { CommittedMap, firmwareOfEntry } from './firmware-map.ts';
import { parseCommitment } from './map-commitment.ts';

export interface MapAuditFinding {
  readonly code: 'MAP_ROOT_MISMATCH' | 'MAP_LOG_ROOT_MISMATCH' | 'INDEX_ROOT_MISMATCH' | 'MAP_COMMITMENT_FORMAT';
  /** The index log leaf, when the finding is about one commitment. */
  readonly index?: number;
  readonly size?: number;
  readonly message: string;
}

export interface MapAuditReport {
  readonly commitments: number;
  readonly entries: number;
  readonly findings: MapAuditFinding[];
}

/**
 * `leaves`: the index log's leaf texts 0 … indexCheckpoint.size−1; `entries`: the log's entries from leaf 0, at
 * least as many as the largest committed size (more are ignored).
 */
export async function auditMapCommitments(leaves: readonly string[], indexCheckpoint: Checkpoint, entries: AsyncIterable<Uint8Array>, crypto: CryptoBackend = portableCrypto): Promise<MapAuditReport> {
  const findings: MapAuditFinding[] = [];
  const tree = new MemoryTree(crypto);
  for (const leaf of leaves.slice(0, indexCheckpoint.size)) tree.append(leafHash(utf8(leaf), crypto));
  if (tree.size < indexCheckpoint.size || !bytesEqual(rootHash(tree, indexCheckpoint.size, crypto), indexCheckpoint.root)) {
    findings.push({ code: 'INDEX_ROOT_MISMATCH', size: indexCheckpoint.size, message: `the ${tree.size} index log leaves served do not give the root of the signed index checkpoint of size ${indexCheckpoint.size}` });
    return { commitments: tree.size, entries: 0, findings };
  }
  const map = CommittedMap.empty(crypto);
  const log = new MemoryTree(crypto);
  const iterator = entries[Symbol.asyncIterator]();
  let index = 0;
  for (const text of leaves.slice(0, indexCheckpoint.size)) {
    let commitment;
    try {
      commitment = parseCommitment(text);
    } catch (error) {
      if (!(error instanceof CheckpointFormatError)) throw error;
      findings.push({ code: 'MAP_COMMITMENT_FORMAT', index, message: `index log leaf ${index} is not a map commitment: ${error.message}` });
      index++;
      continue;
    }
    const { size } = commitment.checkpoint;
    // Leaves are v1 up to the switch point, v2 from it on (§15.3): a v1 leaf after a v2 one is not a commitment.
    if (commitment.version === 1 && map.version === 2) {
      findings.push({ code: 'MAP_COMMITMENT_FORMAT', index, size, message: `index log leaf ${index} is a v1 commitment after a v2 one: the switch to v2 is once and for all` });
      index++;
      continue;
    }
    while (map.size < size) {
      const next = await iterator.next();
      if (next.done) break;
      const hash = leafHash(next.value, crypto);
      log.append(hash);
      map.append(hash, firmwareOfEntry(next.value, crypto));
    }
    if (commitment.version === 2) map.upgrade();
    if (map.size < size || !bytesEqual(rootHash(log, size, crypto), commitment.checkpoint.root)) {
      findings.push({ code: 'MAP_LOG_ROOT_MISMATCH', index, size, message: `commitment ${index} names checkpoint ${size}, whose root the log's entries do not give` });
    } else if (!bytesEqual(map.root(), commitment.mapRoot)) {
      findings.push({ code: 'MAP_ROOT_MISMATCH', index, size, message: `commitment ${index} commits map root ${toHex(commitment.mapRoot).slice(0, 16)}… for checkpoint ${size}; the map (v${commitment.version}) rebuilt from the log's first ${size} entries has root ${toHex(map.root()).slice(0, 16)}…` });
    }
    index++;
  }
  return { commitments: index, entries: map.size, findings };
}
