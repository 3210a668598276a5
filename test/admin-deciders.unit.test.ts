import { describe, expect, it } from 'vitest';
import { decideStation, evolveStation, initialStationState, type StationEvent } from '../src/domain/station.ts';
import { decideBatch, evolveBatch, initialBatchState } from '../src/domain/batch.ts';
import { decideRelease, evolveRelease, initialReleaseState, type ReleaseState } from '../src/domain/release.ts';
import { DecisionError } from '../src/domain/decision-error.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { T0, ev, hash } from './helpers/events.ts';
import { sha256Hex } from '../src/crypto/sha256.ts';

/** The ledger's clock an hour after the test events (helpers/events.ts); no station holds any key yet. */
const NOW = new Date(T0.getTime() + 3_600_000);
const at = (previousAt: string | null = null, now = NOW) => ({ now, maxClockSkewMs: 5 * 60_000, previousAt });
const stationCtx = (holders: readonly string[] = [], previousAt: string | null = null) => ({ ...at(previousAt), stationsHoldingKey: () => holders });
const batchCtx = (release: () => ReleaseState, previousAt: string | null = null) => ({ ...at(previousAt), release });

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
    expect(refusal(() => decideStation(registered, fold([]), stationCtx()))).toBe('accepted');
    expect(refusal(() => decideStation(registered, fold([registered]), stationCtx()))).toBe('STATION_EXISTS');
    expect(refusal(() => decideStation(keyReg, fold([]), stationCtx()))).toBe('STATION_UNKNOWN');
    expect(refusal(() => decideStation(keyReg, fold([registered]), stationCtx()))).toBe('accepted');
    expect(refusal(() => decideStation(keyReg, fold([registered, keyReg]), stationCtx()))).toBe('KEY_EXISTS');
    const revoke = ev('StationKeyRevoked', { stationId: 'ST-01', keyId: key.keyId, reason: 'station PC replaced' });
    expect(refusal(() => decideStation(revoke, fold([registered]), stationCtx()))).toBe('KEY_UNKNOWN');
    expect(refusal(() => decideStation(revoke, fold([registered, keyReg]), stationCtx()))).toBe('accepted');
    expect(refusal(() => decideStation(revoke, fold([registered, keyReg, revoke]), stationCtx()))).toBe('KEY_REVOKED');
    expect(fold([registered, keyReg, revoke]).keys.get(key.keyId)?.revokedAt).toBe(revoke.occurredAt);
  });

  it('refuses a key id that is not the hash of the key, and weak keys', () => {
    const wrongId = ev('StationKeyRegistered', { stationId: 'ST-01', keyId: hash('0'), publicKey: toHex(key.publicKey), algorithm: 'ed25519' });
    expect(refusal(() => decideStation(wrongId, fold([registered]), stationCtx()))).toBe('KEY_ID_MISMATCH');
    const identity = '01'.padEnd(64, '0');
    const weak = ev('StationKeyRegistered', { stationId: 'ST-01', keyId: sha256Hex(Buffer.from(identity, 'hex')), publicKey: identity, algorithm: 'ed25519' });
    expect(refusal(() => decideStation(weak, fold([registered]), stationCtx()))).toBe('KEY_INVALID');
  });
});

describe('release and batch deciders', () => {
  const release = ev('ReleaseApproved', {
    releaseId: 'R1', productSku: 'SKU', version: '1.0.0', bootloaderSha256: hash('b'), applicationSha256: hash('a'),
    provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb',
  });
  it('a release is approved once', () => {
    expect(refusal(() => decideRelease(release, initialReleaseState, at()))).toBe('accepted');
    expect(refusal(() => decideRelease(release, evolveRelease(initialReleaseState, release), at()))).toBe('RELEASE_EXISTS');
  });
  it('a batch opens against an approved release of the same product and closes once', () => {
    const approved = evolveRelease(initialReleaseState, release);
    const open = ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 10 });
    expect(refusal(() => decideBatch(open, initialBatchState, batchCtx(() => initialReleaseState)))).toBe('RELEASE_UNKNOWN');
    expect(refusal(() => decideBatch({ ...open, data: { ...open.data, productSku: 'OTHER' } }, initialBatchState, batchCtx(() => approved)))).toBe('SKU_MISMATCH');
    expect(refusal(() => decideBatch(open, initialBatchState, batchCtx(() => approved)))).toBe('accepted');
    const opened = evolveBatch(initialBatchState, open);
    expect(refusal(() => decideBatch(open, opened, batchCtx(() => approved)))).toBe('BATCH_EXISTS');
    const close = ev('BatchClosed', { batchId: 'B1' });
    expect(refusal(() => decideBatch(close, opened, batchCtx(() => approved)))).toBe('accepted');
    expect(refusal(() => decideBatch(close, evolveBatch(opened, close), batchCtx(() => approved)))).toBe('BATCH_NOT_OPEN');
  });
});

describe('one key id, one station', () => {
  const key = newSigner();
  const registered = ev('StationRegistered', { stationId: 'ST-02', line: 'L1', site: 'P1' });
  const state = evolveStation(initialStationState, registered);
  const keyReg = ev('StationKeyRegistered', { stationId: 'ST-02', keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' });

  it('refuses a key already registered to another station, naming it', () => {
    expect(refusal(() => decideStation(keyReg, state, stationCtx(['ST-01'])))).toBe('KEY_IN_USE');
    expect(() => decideStation(keyReg, state, stationCtx(['ST-01']))).toThrow(`key ${key.keyId} is already registered to station ST-01`);
    // The station's own registration of it is KEY_EXISTS, checked against its own state, not KEY_IN_USE.
    expect(refusal(() => decideStation(keyReg, state, stationCtx(['ST-02'])))).toBe('accepted');
  });
});

describe('administrator event times', () => {
  const registered = ev('StationRegistered', { stationId: 'ST-03', line: 'L1', site: 'P1' });
  const shifted = <E extends { occurredAt: string }>(event: E, iso: string): E => ({ ...event, occurredAt: iso });
  const release = ev('ReleaseApproved', {
    releaseId: 'R2', productSku: 'SKU', version: '1.0.0', bootloaderSha256: hash('b'), applicationSha256: hash('a'),
    provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb',
  });

  it('refuses an event signed in the future (year 2999), as for units', () => {
    expect(refusal(() => decideRelease(shifted(release, '2999-01-01T00:00:00.000Z'), initialReleaseState, at()))).toBe('CLOCK_SKEW');
    expect(refusal(() => decideStation(shifted(registered, new Date(NOW.getTime() + 6 * 60_000).toISOString()), initialStationState, stationCtx()))).toBe('CLOCK_SKEW');
    // Within the skew: accepted.
    expect(refusal(() => decideStation(shifted(registered, new Date(NOW.getTime() + 4 * 60_000).toISOString()), initialStationState, stationCtx()))).toBe('accepted');
  });

  it('refuses an event signed long ago (1970, year 0000)', () => {
    expect(refusal(() => decideRelease(shifted(release, '1970-01-01T00:00:00.000Z'), initialReleaseState, at()))).toBe('EVENT_TOO_OLD');
    expect(refusal(() => decideStation(shifted(registered, '0000-01-01T00:00:00.000Z'), initialStationState, stationCtx()))).toBe('EVENT_TOO_OLD');
  });

  it('refuses an event earlier than the previous event of its stream by more than the skew', () => {
    const key = newSigner();
    const state = evolveStation(initialStationState, registered);
    const keyReg = ev('StationKeyRegistered', { stationId: 'ST-03', keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' });
    const tenMinutesBefore = new Date(Date.parse(registered.occurredAt) - 10 * 60_000).toISOString();
    expect(refusal(() => decideStation(shifted(keyReg, tenMinutesBefore), state, stationCtx([], registered.occurredAt)))).toBe('TIME_BEFORE_PREVIOUS');
    expect(refusal(() => decideStation(keyReg, state, stationCtx([], registered.occurredAt)))).toBe('accepted');
  });

  it('refuses a batch opened before the release it builds was approved', () => {
    const approved = evolveRelease(initialReleaseState, release);
    const open = ev('BatchOpened', { batchId: 'B2', releaseId: 'R2', line: 'L1', productSku: 'SKU', plannedQuantity: 10 });
    const before = new Date(Date.parse(release.occurredAt) - 10 * 60_000).toISOString();
    expect(refusal(() => decideBatch(shifted(open, before), initialBatchState, batchCtx(() => approved)))).toBe('TIME_BEFORE_PREVIOUS');
    expect(refusal(() => decideBatch(open, initialBatchState, batchCtx(() => approved)))).toBe('accepted');
  });
});
