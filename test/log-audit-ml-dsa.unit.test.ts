/**
 * LogAudit (src/verify/log-audit.ts, docs/format.md §16.1) and the ML-DSA-44 line of a checkpoint, on a log built
 * here entry by entry, without a server: the hybrid policy once the log names an ML-DSA-44 key, the pinned key,
 * and an unlinked announcement after it, which a pinned audit reports and does not follow (an unpinned one does).
 */
import { describe, expect, it } from 'vitest';
import { portableCrypto } from '../src/crypto/backend.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { newMlDsaSigner, type MlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { EventSigner } from '../src/event/signer.ts';
import { formatCheckpointBody } from '../src/tlog/checkpoint.ts';
import { addMlDsaSignature, formatMlDsaVerifierKey, parseMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { parseVerifierKey, formatVerifierKey, signNote } from '../src/tlog/note.ts';
import { LogAudit } from '../src/verify/log-audit.ts';
import { VerificationError } from '../src/verify/errors.ts';

const ORIGIN = 'audit.example/ledger';
const ledger: Signer = newSigner();
const admin: Signer = newSigner();
const pinned = parseVerifierKey(formatVerifierKey(ORIGIN, ledger.publicKey));
const vkey = (k: MlDsaSigner) => parseMlDsaVerifierKey(formatMlDsaVerifierKey(ORIGIN, k.publicKey));

/** The ledger's record signer of one log (it chains each stream from that log's entries). */
const newLog = () => new EventSigner(ledger, 'ledger');
const announce = (records: EventSigner, k: MlDsaSigner) => envelopeBytes(records.sign('LedgerKeyAnnounced', { algorithm: 'ml-dsa-44', keyId: k.keyId, publicKey: toBase64(k.publicKey), verifierKey: formatMlDsaVerifierKey(ORIGIN, k.publicKey) }).envelope);

/** The ledger's checkpoint of what the audit has read: Ed25519, and an ML-DSA-44 line by `pq` when given. */
function checkpointOf(audit: LogAudit, pq: MlDsaSigner | null): string {
  const note = signNote(formatCheckpointBody({ origin: ORIGIN, size: audit.size, root: audit.root() }), ORIGIN, ledger.secretKey, ledger.publicKey);
  return pq ? addMlDsaSignature(note, ORIGIN, pq, Math.floor(Date.now() / 1000)) : note;
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof VerificationError) return error.code;
    throw error;
  }
  return 'none';
}

describe('LogAudit: the checkpoint ML-DSA-44 line (§5.5)', () => {
  const first = newMlDsaSigner();

  it('once the log names an ML-DSA-44 key, a checkpoint needs its valid line; before, Ed25519 alone', () => {
    const records = newLog();
    const audit = LogAudit.start(pinned, portableCrypto);
    expect(audit.observePage([envelopeBytes(records.sign('AdminKeysTrusted', { keys: [{ keyId: admin.keyId, publicKey: toHex(admin.publicKey) }] }).envelope)], '1')).toEqual([]);
    expect(audit.checkCheckpoint(checkpointOf(audit, null)).signatures).toEqual(['Ed25519']);

    expect(audit.observePage([announce(records, first)], '2')).toEqual([]);
    expect(audit.checkCheckpoint(checkpointOf(audit, first)).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
    expect(codeOf(() => audit.checkCheckpoint(checkpointOf(audit, null)))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
    // A line by another key is no line of the key in force.
    expect(codeOf(() => audit.checkCheckpoint(checkpointOf(audit, newMlDsaSigner())))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
  });

  it('pinned: a key the log never names is LEDGER_KEY_ERROR; the named one verifies', () => {
    const stranger = LogAudit.start(pinned, portableCrypto, vkey(newMlDsaSigner()));
    stranger.observePage([announce(newLog(), first)], '1');
    expect(codeOf(() => stranger.checkCheckpoint(checkpointOf(stranger, first)))).toBe('LEDGER_KEY_ERROR');

    const audit = LogAudit.start(pinned, portableCrypto, vkey(first));
    audit.observePage([announce(newLog(), first)], '1');
    expect(audit.checkCheckpoint(checkpointOf(audit, first)).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
  });

  it('pinned, an unlinked announcement after the pinned key is a finding and is not followed; unpinned, it is', () => {
    const other = newMlDsaSigner();
    const records = newLog();
    const entries = [announce(records, first), announce(records, other)];
    const audit = LogAudit.start(pinned, portableCrypto, vkey(first));
    const findings = audit.observePage(entries, '2');
    expect(findings).toEqual([expect.objectContaining({ code: 'LEDGER_KEY_ERROR', step: 'ledger-keys', leafIndex: 1, evidence: expect.objectContaining({ leafIndex: 1, eventType: 'LedgerKeyAnnounced' }) })]);
    expect(audit.mlDsaKey()?.id).toBe(vkey(first).id);
    expect(audit.checkCheckpoint(checkpointOf(audit, first)).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
    expect(codeOf(() => audit.checkCheckpoint(checkpointOf(audit, other)))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
    // The refusal survives a restart from the state.
    const resumed = LogAudit.fromJSON(JSON.parse(JSON.stringify(audit.toJSON())), pinned, portableCrypto, vkey(first));
    expect(resumed.mlDsaKey()?.id).toBe(vkey(first).id);

    const unpinned = LogAudit.start(pinned, portableCrypto);
    expect(unpinned.observePage(entries, '2')).toEqual([]);
    expect(unpinned.mlDsaKey()?.id).toBe(vkey(other).id);
    expect(unpinned.checkCheckpoint(checkpointOf(unpinned, other)).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
  });

  it('before the pinned key, the chain is the log\'s word: an earlier key replaced by an announcement of the pinned one', () => {
    const earlier = newMlDsaSigner();
    const audit = LogAudit.start(pinned, portableCrypto, vkey(first));
    const records = newLog();
    expect(audit.observePage([announce(records, earlier), announce(records, first)], '2')).toEqual([]);
    expect(audit.checkCheckpoint(checkpointOf(audit, first)).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
  });
});
