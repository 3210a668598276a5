/**
 * The chain of ledger keys (docs/format.md §5.4, src/verify/ledger-keys.ts): followed forward from the pinned
 * key, each link signed by the key it replaces; the key in force at a leaf; every broken link refused with
 * LEDGER_KEY_ERROR naming the key ids.
 */
import { describe, expect, it } from 'vitest';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { EventSigner } from '../src/event/signer.ts';
import { decodeEntry } from '../src/verify/steps.ts';
import { followLedgerKeyChain } from '../src/verify/ledger-keys.ts';
import { formatVerifierKey, parseVerifierKey } from '../src/tlog/note.ts';
import { expectedVerificationFailure } from './helpers/verification-failure.ts';

const ORIGIN = 'flashtrail.test/rotation';
const vkey = (k: Signer, origin = ORIGIN) => parseVerifierKey(formatVerifierKey(origin, k.publicKey));
const rotation = (signedBy: Signer, previous: Signer, next: Signer, leafIndex: number, origin = ORIGIN) => {
  const data = { algorithm: 'ed25519' as const, previousKeyId: previous.keyId, previousPublicKey: toHex(previous.publicKey), keyId: next.keyId, publicKey: toHex(next.publicKey), verifierKey: formatVerifierKey(origin, next.publicKey) };
  const { envelope } = new EventSigner(signedBy, 'ledger').sign('LedgerKeyRotated', data, { prev: null });
  return decodeEntry('trust', leafIndex, envelope, leafIndex, { field: `entries[${leafIndex}]` }, portableCrypto);
};
const failure = expectedVerificationFailure;

describe('the chain of ledger keys', () => {
  const [k0, k1, k2] = [newSigner(), newSigner(), newSigner()] as [Signer, Signer, Signer];
  const links = [rotation(k0, k0, k1, 10), rotation(k1, k1, k2, 20)];

  it('follows the chain from any key of it to the last, and says which key is in force at each leaf', () => {
    for (const pinned of [k0, k1, k2]) {
      const chain = followLedgerKeyChain([...links].reverse(), vkey(pinned), portableCrypto);
      expect(chain.signing.id).toBe(vkey(k2).id);
      expect(chain.keys.map((k) => k.keyId)).toEqual([k0.keyId, k1.keyId, k2.keyId]);
      expect([0, 10, 11, 20, 21].map((leaf) => chain.keyAt(leaf).keyId)).toEqual([k0.keyId, k0.keyId, k1.keyId, k1.keyId, k2.keyId]);
    }
    const none = followLedgerKeyChain([], vkey(k0), portableCrypto);
    expect(none.signing.id).toBe(vkey(k0).id);
    expect(none.keyAt(5).keyId).toBe(k0.keyId);
  });

  it('refuses a link signed by anyone but the key it replaces', () => {
    const stranger = newSigner();
    const e = failure(() => followLedgerKeyChain([rotation(stranger, k0, k1, 10)], vkey(k0), portableCrypto));
    expect(e.code).toBe('LEDGER_KEY_ERROR');
    expect(e.message).toContain(`not signed by the key it replaces, ${k0.keyId.slice(0, 16)}… (signed by ${stranger.keyId.slice(0, 16)}…)`);
    expect(e.location).toMatchObject({ leafIndex: 10 });
  });

  it('refuses a link that does not continue the one before', () => {
    const e = failure(() => followLedgerKeyChain([rotation(k0, k0, k1, 10), rotation(k2, k2, newSigner(), 20)], vkey(k0), portableCrypto));
    expect(e.code).toBe('LEDGER_KEY_ERROR');
    expect(e.message).toContain(`replaces ${k2.keyId.slice(0, 16)}…, but the key in force before it is ${k1.keyId.slice(0, 16)}…`);
  });

  it('refuses a chain without the pinned key, naming the chain', () => {
    const e = failure(() => followLedgerKeyChain(links, vkey(newSigner()), portableCrypto));
    expect(e.code).toBe('LEDGER_KEY_ERROR');
    expect(e.message).toContain(`${k0.keyId.slice(0, 16)}… → ${k1.keyId.slice(0, 16)}… → ${k2.keyId.slice(0, 16)}…`);
  });

  it('refuses a new key announced under another origin: a rotation keeps the log', () => {
    const e = failure(() => followLedgerKeyChain([rotation(k0, k0, k1, 10, 'flashtrail.test/other')], vkey(k0), portableCrypto));
    expect(e.code).toBe('LEDGER_KEY_ERROR');
    expect(e.message).toMatch(/keeps the log's origin/);
  });
});
