import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import rfc8032 from './vectors/rfc8032-ed25519.json' with { type: 'json' };
import strictVectors from './vectors/strict-ed25519.json' with { type: 'json' };
import paeVectors from './vectors/dsse-pae.json' with { type: 'json' };
import jcsVectors from './vectors/rfc8785-jcs.json' with { type: 'json' };
import golden from './vectors/golden-events.json' with { type: 'json' };
import * as ed from '@noble/ed25519';
import { fromHex, fromUtf8, toHex, utf8, fromBase64, toBase64 } from '../src/crypto/encoding.ts';
import { isAcceptablePublicKey, publicKeyFromSecret, sign, verifyStrictPortable } from '../src/crypto/ed25519.ts';
import { signEd25519Native, verifyStrict } from '../src/native/ed25519.ts';
import { envelopeBytes, envelopeDigest, pae, verifyEnvelopeSignature, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { canonicalize, CanonicalizationError } from '../src/crypto/jcs.ts';
import { signEvent } from '../src/event/codec.ts';
import { goldenEvents, goldenSigner } from './helpers/golden.ts';

describe('Ed25519 (RFC 8032 §7.1 vectors)', () => {
  it('signs on OpenSSL the bytes the portable signer signs, for random keys and messages of every length to 300 bytes', () => {
    for (let length = 0; length <= 300; length += 7) {
      const sk = ed.utils.randomSecretKey();
      const msg = ed.etc.randomBytes(length);
      expect(toHex(signEd25519Native(msg, sk))).toBe(toHex(sign(msg, sk)));
      // The key object is kept for the key's bytes: a second message with the same key is signed as the first.
      expect(toHex(signEd25519Native(utf8('again'), sk))).toBe(toHex(sign(utf8('again'), sk)));
    }
  });

  for (const v of rfc8032.vectors) {
    it(`${v.name}: derives the public key, signs deterministically, verifies`, () => {
      const sk = fromHex(v.secretKey);
      const msg = fromHex(v.message);
      expect(toHex(publicKeyFromSecret(sk))).toBe(v.publicKey);
      expect(toHex(sign(msg, sk))).toBe(v.signature);
      expect(toHex(signEd25519Native(msg, sk))).toBe(v.signature);
      expect(verifyStrict(fromHex(v.signature), msg, fromHex(v.publicKey))).toBe(true);
    });
    it(`${v.name}: a flipped bit in message, signature or key fails`, () => {
      const sig = fromHex(v.signature);
      const msg = fromHex(v.message);
      const pub = fromHex(v.publicKey);
      const flip = (b: Uint8Array, i: number) => {
        const c = b.slice();
        c[i % c.length] = (c[i % c.length] as number) ^ 0x01;
        return c;
      };
      expect(verifyStrict(flip(sig, 5), msg, pub)).toBe(false);
      expect(verifyStrict(flip(sig, 40), msg, pub)).toBe(false);
      expect(verifyStrict(sig, utf8(`${v.message}x`), pub)).toBe(false);
      expect(verifyStrict(sig, msg, flip(pub, 3))).toBe(false);
    });
  }

  it('refuses S + L (non-canonical scalar)', () => {
    const v = rfc8032.vectors[0] as (typeof rfc8032.vectors)[0];
    const sig = fromHex(v.signature);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i] as number);
    let t = s + L;
    const forged = sig.slice();
    for (let i = 32; i < 64; i++) {
      forged[i] = Number(t & 0xffn);
      t >>= 8n;
    }
    expect(verifyStrict(forged, fromHex(v.message), fromHex(v.publicKey))).toBe(false);
    expect(verifyStrictPortable(forged, fromHex(v.message), fromHex(v.publicKey))).toBe(false);
  });

  for (const v of strictVectors.vectors) {
    it(`strict, not ZIP-215: ${v.name}`, () => {
      const args = [fromHex(v.signature), fromHex(v.message), fromHex(v.publicKey)] as const;
      // The vector is meaningful only if the permissive rules really accept it.
      expect(ed.verify(...args, { zip215: true })).toBe(v.zip215);
      expect(verifyStrict(...args)).toBe(v.strict);
      expect(verifyStrictPortable(...args)).toBe(v.strict);
    });
  }

  it('the native and the portable strict verifiers agree on valid, mangled and random inputs', () => {
    const verdicts: boolean[] = [];
    for (let i = 0; i < 200; i++) {
      const v = rfc8032.vectors[i % rfc8032.vectors.length]!;
      const sig = fromHex(v.signature);
      const msg = fromHex(v.message);
      const pub = fromHex(v.publicKey);
      if (i % 4 === 1) sig[i % 64] = (sig[i % 64] as number) ^ (1 << (i % 8));
      if (i % 4 === 2) pub[i % 32] = (pub[i % 32] as number) ^ (1 << (i % 8));
      if (i % 4 === 3) sig.set(crypto.getRandomValues(new Uint8Array(32)), 32);
      const native = verifyStrict(sig, msg, pub);
      expect(native, `case ${i}`).toBe(verifyStrictPortable(sig, msg, pub));
      verdicts.push(native);
    }
    expect(verdicts.filter(Boolean).length).toBe(50);
  });

  it('refuses small-order public keys for registration', () => {
    expect(isAcceptablePublicKey(fromHex('0100000000000000000000000000000000000000000000000000000000000000'))).toBe(false);
    expect(isAcceptablePublicKey(fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(false);
    expect(isAcceptablePublicKey(fromHex((rfc8032.vectors[0] as { publicKey: string }).publicKey))).toBe(true);
  });
});

describe('DSSE pre-authentication encoding', () => {
  for (const v of paeVectors.vectors) {
    it(`PAE(${v.payloadType}, ${JSON.stringify(v.body)})`, () => {
      expect(fromUtf8(pae(v.payloadType, utf8(v.body)))).toBe(v.pae);
    });
  }
  it('counts bytes, not characters', () => {
    expect(fromUtf8(pae('t', utf8('€')))).toBe('DSSEv1 1 t 3 €');
  });
});

describe('RFC 8785 canonical JSON', () => {
  for (const v of jcsVectors.objects) {
    it(v.name, () => expect(canonicalize(JSON.parse(v.input))).toBe(v.canonical));
  }
  it('serialises the Appendix B numbers exactly', () => {
    for (const n of jcsVectors.numbers) {
      const value = Buffer.from(n.ieee754, 'hex').readDoubleBE(0);
      if (n.canonical === null) expect(() => canonicalize(value)).toThrow(CanonicalizationError);
      else expect(canonicalize(value), n.ieee754).toBe(n.canonical);
    }
  });
  it('refuses values without a JSON form', () => {
    expect(() => canonicalize({ a: 1n })).toThrow(CanonicalizationError);
    expect(() => canonicalize(new Date())).toThrow(CanonicalizationError);
  });
});

describe('base64 is strict', () => {
  it('refuses non-canonical padding bits and missing padding', () => {
    expect(toBase64(fromBase64('YQ=='))).toBe('YQ==');
    expect(() => fromBase64('YR==')).toThrow();
    expect(() => fromBase64('YQ')).toThrow();
    expect(() => fromBase64('Y Q==')).toThrow();
  });
});

describe('golden signed events', () => {
  it('signing the golden events reproduces the stored envelopes byte for byte', () => {
    const first = signEvent(goldenEvents(null)[0]!, goldenSigner);
    const second = signEvent(goldenEvents(envelopeDigest(first))[1]!, goldenSigner);
    [first, second].forEach((envelope, i) => {
      const g = golden.events[i]!;
      expect(envelope).toEqual(g.envelope);
      expect(fromUtf8(envelopeBytes(envelope))).toBe(g.canonicalEnvelope);
      expect(envelopeDigest(envelope)).toBe(g.digest);
    });
    expect(goldenSigner.keyId).toBe(golden.keyId);
  });

  it('the second event chains to the first', () => {
    const payload = JSON.parse(fromUtf8(fromBase64(golden.events[1]!.envelope.payload))) as { prev: string };
    expect(payload.prev).toBe(golden.events[0]!.digest);
  });

  it('verify with an implementation we did not write: node (OpenSSL) Ed25519', () => {
    const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(golden.publicKey, 'hex')]), format: 'der', type: 'spki' });
    for (const g of golden.events) {
      const env = g.envelope as DsseEnvelope;
      const message = pae(env.payloadType, fromBase64(env.payload));
      expect(nodeVerify(null, message, key, fromBase64(env.signatures[0]!.sig))).toBe(true);
    }
  });

  it('any tampered byte of payload or signature is detected', () => {
    const env = golden.events[0]!.envelope as DsseEnvelope;
    const pub = fromHex(golden.publicKey);
    expect(verifyEnvelopeSignature(env, pub)).toBe(true);
    const payload = fromBase64(env.payload);
    for (const i of [0, 10, payload.length - 1]) {
      const bad = payload.slice();
      bad[i] = (bad[i] as number) ^ 0x20;
      expect(verifyEnvelopeSignature({ ...env, payload: toBase64(bad) }, pub)).toBe(false);
    }
    expect(verifyEnvelopeSignature({ ...env, payloadType: 'application/json' }, pub)).toBe(false);
    const sig = fromBase64(env.signatures[0]!.sig);
    sig[63] = (sig[63] as number) ^ 0x01;
    expect(verifyEnvelopeSignature({ ...env, signatures: [{ keyid: env.signatures[0]!.keyid, sig: toBase64(sig) }] }, pub)).toBe(false);
  });
});
