import { describe, expect, it } from 'vitest';
import { decideStation, evolveStation, initialStationState, type StationEvent } from '../src/domain/station.ts';
import { decideBatch, evolveBatch, initialBatchState } from '../src/domain/batch.ts';
import { decideRelease, evolveRelease, initialReleaseState } from '../src/domain/release.ts';
import { DecisionError } from '../src/domain/decision-error.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { ev, hash } from './helpers/events.ts';
import { sha256Hex } from '../src/crypto/sha256.ts';

const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof DecisionError) return e.rule;
    throw e;
  }
  return 'accepted';
};

describe('station decider', () => {
  const key = newSigner();
  const registered = ev('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'P1' });
  const keyReg = ev('StationKeyRegistered', { stationId: 'ST-01', keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' });
  const fold = (events: StationEvent[]) => events.reduce(evolveStation, initialStationState);

  it('registers a station once, then keys, then revokes them', () => {
    expect(refusal(() => decideStation(registered, fold([])))).toBe('accepted');
    expect(refusal(() => decideStation(registered, fold([registered])))).toBe('STATION_EXISTS');
    expect(refusal(() => decideStation(keyReg, fold([])))).toBe('STATION_UNKNOWN');
    expect(refusal(() => decideStation(keyReg, fold([registered])))).toBe('accepted');
    expect(refusal(() => decideStation(keyReg, fold([registered, keyReg])))).toBe('KEY_EXISTS');
    const revoke = ev('StationKeyRevoked', { stationId: 'ST-01', keyId: key.keyId, reason: 'station PC replaced' });
    expect(refusal(() => decideStation(revoke, fold([registered])))).toBe('KEY_UNKNOWN');
    expect(refusal(() => decideStation(revoke, fold([registered, keyReg])))).toBe('accepted');
    expect(refusal(() => decideStation(revoke, fold([registered, keyReg, revoke])))).toBe('KEY_REVOKED');
    expect(fold([registered, keyReg, revoke]).keys.get(key.keyId)?.revokedAt).toBe(revoke.occurredAt);
  });

  it('refuses a key id that is not the hash of the key, and weak keys', () => {
    const wrongId = ev('StationKeyRegistered', { stationId: 'ST-01', keyId: hash('0'), publicKey: toHex(key.publicKey), algorithm: 'ed25519' });
    expect(refusal(() => decideStation(wrongId, fold([registered])))).toBe('KEY_ID_MISMATCH');
    const identity = '01'.padEnd(64, '0');
    const weak = ev('StationKeyRegistered', { stationId: 'ST-01', keyId: sha256Hex(Buffer.from(identity, 'hex')), publicKey: identity, algorithm: 'ed25519' });
    expect(refusal(() => decideStation(weak, fold([registered])))).toBe('KEY_INVALID');
  });
});

describe('release and batch deciders', () => {
  const release = ev('ReleaseApproved', {
    releaseId: 'R1', productSku: 'SKU', version: '1.0.0', bootloaderSha256: hash('b'), applicationSha256: hash('a'),
    provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb',
  });
  it('a release is approved once', () => {
    expect(refusal(() => decideRelease(release, initialReleaseState))).toBe('accepted');
    expect(refusal(() => decideRelease(release, evolveRelease(initialReleaseState, release)))).toBe('RELEASE_EXISTS');
  });
  it('a batch opens against an approved release of the same product and closes once', () => {
    const approved = evolveRelease(initialReleaseState, release);
    const open = ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 10 });
    expect(refusal(() => decideBatch(open, initialBatchState, { release: () => initialReleaseState }))).toBe('RELEASE_UNKNOWN');
    expect(refusal(() => decideBatch({ ...open, data: { ...open.data, productSku: 'OTHER' } }, initialBatchState, { release: () => approved }))).toBe('SKU_MISMATCH');
    expect(refusal(() => decideBatch(open, initialBatchState, { release: () => approved }))).toBe('accepted');
    const opened = evolveBatch(initialBatchState, open);
    expect(refusal(() => decideBatch(open, opened, { release: () => approved }))).toBe('BATCH_EXISTS');
    const close = ev('BatchClosed', { batchId: 'B1' });
    expect(refusal(() => decideBatch(close, opened, { release: () => approved }))).toBe('accepted');
    expect(refusal(() => decideBatch(close, evolveBatch(opened, close), { release: () => approved }))).toBe('BATCH_NOT_OPEN');
  });
});
