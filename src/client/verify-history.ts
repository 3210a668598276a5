/**
 * Client-side re-verification of a stream's history as served by GET …/events: every signature against the
 * station keys, every digest recomputed from the envelope, and the hash chain from the first event on.
 * Trusts nothing the server computed.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { envelopeDigest, verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { fromBase64, fromHex, fromUtf8 } from '../crypto/encoding.ts';
import type { LedgerEvent } from '../../schemas/index.ts';

export interface HistoryEntry {
  readonly envelope: DsseEnvelope;
}

export type HistoryCheck = { ok: true; events: number } | { ok: false; index: number; code: 'SIGNATURE_ERROR' | 'CHAIN_BROKEN' | 'KEY_UNKNOWN'; reason: string };

export function verifyHistory(entries: readonly HistoryEntry[], keys: ReadonlyMap<string, string>): HistoryCheck {
  let prev: string | null = null;
  for (const [index, { envelope }] of entries.entries()) {
    const keyId = envelope.signatures[0]?.keyid ?? '';
    const publicKey = keys.get(keyId);
    if (!publicKey) return { ok: false, index, code: 'KEY_UNKNOWN', reason: `key ${keyId} is not among the station's keys` };
    if (!verifyEnvelopeSignature(envelope, fromHex(publicKey))) {
      return { ok: false, index, code: 'SIGNATURE_ERROR', reason: 'Ed25519 signature does not verify' };
    }
    const event = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as LedgerEvent;
    if (event.prev !== prev) return { ok: false, index, code: 'CHAIN_BROKEN', reason: `prev ${String(event.prev)} but the previous envelope hashes to ${String(prev)}` };
    prev = envelopeDigest(envelope);
  }
  return { ok: true, events: entries.length };
}
