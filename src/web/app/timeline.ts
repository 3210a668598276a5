/// <reference lib="dom" />
/**
 * A unit's timeline, taken from its provenance document only after the portable verifier (src/verify) checked
 * the document against the key the user pinned: every row is a signed event whose signature, chain link, key
 * life and inclusion proof were verified in this browser, not something the server says.
 */
import { parseMlDsaVerifierKey, parseVerifierKey, portableCrypto, verifyProvenance, VerificationError, failureLine, stepLines, type MlDsaNoteKey, type ProvenanceReport } from '../../verify/index.ts';
import { firmwareOf } from '../../event/firmware.ts';
import type { UnitEvent } from '../../../schemas/index.ts';
import { fromBase64 } from '../../crypto/encoding.ts';

export interface TimelineRow {
  readonly at: string;
  readonly type: string;
  readonly station: string;
  readonly keyId: string;
  readonly leafIndex: number;
  readonly firmware: string;
  readonly security: string;
}

export type VerifiedTimeline = { ok: true; report: ProvenanceReport; rows: TimelineRow[]; lines: string[] } | { ok: false; error: VerificationError; lines: string[] };

interface Entry {
  role: string;
  leafIndex: number;
  envelope: { payload: string; signatures: { keyid: string }[] };
}

/**
 * The timeline of a provenance document verified against the pinned ledger key and, when one is pinned, the
 * ledger's ML-DSA-44 key under the hybrid policy (both checkpoint signatures required, as `flashtrail verify
 * --ledger-pq-key` does).
 */
export function verifiedTimeline(doc: unknown, ledgerKey: string, pqKey = ''): VerifiedTimeline {
  let report: ProvenanceReport;
  try {
    let key;
    try {
      key = parseVerifierKey(ledgerKey.trim());
    } catch (error) {
      throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the pinned ledger key is not a ledger verifier key: ${(error as Error).message}`);
    }
    let mlDsaKey: MlDsaNoteKey | null = null;
    if (pqKey.trim() !== '') {
      try {
        mlDsaKey = parseMlDsaVerifierKey(pqKey.trim());
      } catch (error) {
        throw new VerificationError('LEDGER_KEY_ERROR', 'input', `the pinned ML-DSA-44 key is not an ML-DSA-44 verifier key: ${(error as Error).message}`);
      }
    }
    report = verifyProvenance(doc, key, portableCrypto, { mlDsaKey });
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return { ok: false, error, lines: [failureLine(error)] };
  }
  const decoder = new TextDecoder();
  const rows = (doc as { entries: Entry[] }).entries
    .filter((e) => e.role === 'unit')
    .map((e): TimelineRow => {
      const event = JSON.parse(decoder.decode(fromBase64(e.envelope.payload))) as UnitEvent & { data: Record<string, unknown> };
      const security =
        event.type === 'SecurityStateRead'
          ? `${String(event.data['result'])}: ${((event.data['fields'] as { name: string; value: unknown }[]) ?? []).map((f) => `${f.name}=${String(f.value)}`).join(', ')}`
          : event.type === 'EfuseBurned'
            ? `eFuses: ${Object.entries(event.data).filter(([k]) => /secure|encrypt|profile/i.test(k)).map(([k, v]) => `${k}=${String(v)}`).join(', ')}`
            : '';
      return {
        at: event.occurredAt,
        type: event.type,
        station: event.source.id,
        keyId: shortKey(e.envelope.signatures[0]?.keyid ?? ''),
        leafIndex: e.leafIndex,
        firmware: firmwareOf(event).map((f) => `${f.name} ${f.sha256}`).join('; '),
        security,
      };
    });
  return { ok: true, report, rows, lines: stepLines(report.steps) };
}

/** A key id as the table shows it: its first 16 hex digits (64 bits) identify it among a ledger's keys. */
function shortKey(keyId: string): string {
  return keyId.length > 16 ? `${keyId.slice(0, 16)}…` : keyId;
}
