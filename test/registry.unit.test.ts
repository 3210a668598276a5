/** The aggregate registry: every event type has exactly one home, and each home names its streams and context. */
import { describe, expect, it } from 'vitest';
import { ADMIN_EVENT_TYPES, LEDGER_EVENT_TYPES, UNIT_EVENT_TYPES, type LedgerEvent } from '../schemas/index.ts';
import { AGGREGATES, aggregateOf } from '../src/domain/registry.ts';
import { streamOf } from '../src/event/streams.ts';
import { unitAggregate } from '../src/domain/unit.ts';
import { batchAggregate, initialBatchState, type BatchState } from '../src/domain/batch.ts';
import { initialReleaseState } from '../src/domain/release.ts';
import type { DecisionContext, StreamRef } from '../src/domain/aggregate.ts';
import { DecisionError, RULE_CODES } from '../src/domain/decision-error.ts';
import { ev, hash, T0, unit } from './helpers/events.ts';
import { recipeUnit } from './helpers/recipe.ts';
import { initialStationState } from '../src/domain/station.ts';

const r = recipeUnit();

const release = { releaseId: 'R1', productSku: 'SKU', version: '1', bootloaderSha256: hash('b'), applicationSha256: hash('a'), provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb' };

/** One event of every type. */
const samples: LedgerEvent[] = [
  unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned(), unit.efuse(), unit.failed(), unit.reworked(), unit.scrapped(), unit.shipped(),
  r.identity(), r.started('burn-flash-encryption'), r.written(), r.verified(), r.securityRead('read-back-efuses'), r.locked(),
  ev('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'P' }),
  ev('StationKeyRegistered', { stationId: 'ST-01', keyId: hash('k'), publicKey: hash('p'), algorithm: 'ed25519' }),
  ev('StationKeyRevoked', { stationId: 'ST-01', keyId: hash('k'), reason: 'r' }),
  ev('ReleaseApproved', release),
  ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 1 }),
  ev('BatchClosed', { batchId: 'B1' }),
  ev('AdminKeysTrusted', { keys: [{ keyId: hash('k'), publicKey: hash('p') }] }),
  ev('CheckpointIssued', { origin: 'o', size: 1, rootHash: hash('r'), note: 'n' }),
  ev('FirmwareUpdated', { serial: 'SN1', fromReleaseId: 'R1', toReleaseId: 'R2', images: [{ name: 'application', sha256: hash('a') }], method: 'ota' }, { source: 'FLEET' }),
  ev('SbomAttached', { releaseId: 'R1', sha256: hash('5'), format: 'CycloneDX', specVersion: '1.6', encoding: 'json', sizeBytes: 10, components: [] }),
  ev('SupportPeriodSet', { releaseId: 'R1', supportEnd: '2031-12' }),
  ev('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', components: [{ kind: 'name', name: 'mbedtls', range: '<3.5.2' }], releaseIds: ['R1'], status: 'under_investigation' }),
  ev('VulnerabilityAwareness', { vulnerabilityId: 'CVE-2024-23775', track: 'vulnerability', awareAt: T0.toISOString(), activelyExploited: true }),
  ev('CraReportSubmitted', { vulnerabilityId: 'CVE-2024-23775', stage: 'early_warning', submittedAt: T0.toISOString() }),
  ev('ScittStatementRegistered', { serial: 'SN1', statementSha256: hash('s'), provenanceSha256: hash('p'), checkpoint: 'n', statement: 'AA==' }),
  ev('LedgerKeyAnnounced', { algorithm: 'ml-dsa-44', keyId: hash('k'), publicKey: 'A'.repeat(1752), verifierKey: 'o+00000000+Bg==' }),
  ev('LedgerKeyRotated', { algorithm: 'ed25519', previousKeyId: hash('old'), previousPublicKey: hash('o'), keyId: hash('new'), publicKey: hash('n'), verifierKey: 'o+00000000+AQ==' }),
  ev('NotificationListProduced', { vulnerabilityId: 'CVE-2024-23775', query: { view: 'now', statuses: ['affected'] }, format: 'csv', listSha256: hash('l'), units: 3, customers: 2, asOf: { size: 10, rootHash: hash('r') }, requestedBy: { role: 'auditor', name: 'quality' } }),
];

/** A decision context holding the given streams' states, as the pipeline would after loading them. */
function contextWith(states: Map<string, unknown>): DecisionContext & { read: string[] } {
  const read: string[] = [];
  return {
    now: new Date(T0.getTime() + 3_600_000),
    maxClockSkewMs: 60_000,
    previousAt: null,
    stationsHoldingKey: () => [],
    read,
    stateOf<S>(ref: StreamRef<S>): S {
      read.push(ref.stream);
      if (!states.has(ref.stream)) throw new Error(`not loaded: ${ref.stream}`);
      return states.get(ref.stream) as S;
    },
  };
}

describe('aggregate registry', () => {
  it('every event type belongs to exactly one aggregate', () => {
    const owners = [...UNIT_EVENT_TYPES, ...ADMIN_EVENT_TYPES, ...LEDGER_EVENT_TYPES].map((type) => ({ type, owners: AGGREGATES.filter((a) => a.eventTypes.includes(type)).map((a) => a.name) }));
    expect(owners.length).toBe(33);
    expect(owners.filter((o) => o.owners.length !== 1)).toEqual([]);
    expect(AGGREGATES.map((a) => a.name)).toEqual(['unit', 'station', 'release', 'batch', 'vulnerability', 'ledger-trust', 'ledger-checkpoints', 'ledger-statement', 'ledger-keys', 'ledger-key-rotations', 'ledger-notifications']);
  });

  it('stream prefixes are distinct and none is the start of another', () => {
    const prefixes = AGGREGATES.map((a) => a.streamPrefix);
    expect(prefixes).toEqual(['unit-', 'station-', 'release-', 'batch-', 'vuln-', 'ledger-trust', 'ledger-checkpoints', 'ledger-statement-', 'ledger-keys', 'ledger-key-rotations', 'ledger-notifications-']);
    for (const a of prefixes) for (const b of prefixes) if (a !== b) expect(b.startsWith(a), `${b} starts with ${a}`).toBe(false);
  });

  it("an event's aggregate names the same stream as the clients' stream rule", () => {
    expect(new Set(samples.map((e) => e.type)).size).toBe(33);
    for (const event of samples) {
      const stream = aggregateOf(event).open((aggregate) => {
        if (!aggregate.accepts(event)) throw new Error(`${aggregate.name} does not accept ${event.type}`);
        return aggregate.streamFor(event).stream;
      });
      expect(stream).toBe(streamOf(event));
    }
  });

  it('folding refuses an event of another aggregate', () => {
    expect(() => batchAggregate.fold(initialBatchState, unit.scanned())).toThrow(/UnitScanned is not an event of the batch aggregate/);
  });

  it('a unit event declares its station and batch as context, and the batch names its release', () => {
    const scan = unit.scanned('B7');
    expect(unitAggregate.context(scan).map((ref) => ref.stream)).toEqual(['station-ST-01', 'batch-B7']);
    const open: BatchState = { status: 'open', opened: { batchId: 'B7', releaseId: 'R9', line: 'L1', productSku: 'SKU', plannedQuantity: 1 } };
    const loaded = <T>(ref: StreamRef<T>) => (ref.stream === 'batch-B7' ? (open as T) : undefined);
    expect(unitAggregate.context(scan, unitAggregate.initialState, loaded).map((ref) => ref.stream)).toEqual(['station-ST-01', 'batch-B7', 'release-R9']);
    // After the scan, the unit's own state names its batch.
    const scannedState = unitAggregate.evolve(unitAggregate.initialState, scan);
    expect(unitAggregate.context(unit.bootloader(), scannedState).map((ref) => ref.stream)).toEqual(['station-ST-01', 'batch-B7']);
    const station = { ...initialStationState, stationId: 'ST-01', line: 'L1' };
    const ctx = contextWith(new Map<string, unknown>([['batch-B7', open], ['station-ST-01', station], ['release-R9', initialReleaseState]]));
    expect(unitAggregate.decide(scan, unitAggregate.initialState, ctx)).toEqual([scan]);
    expect(ctx.read).toEqual(expect.arrayContaining(['station-ST-01', 'batch-B7', 'release-R9']));
    const closed = contextWith(new Map<string, unknown>([['batch-B7', { ...open, status: 'closed' }], ['station-ST-01', station], ['release-R9', initialReleaseState]]));
    expect(() => unitAggregate.decide(scan, unitAggregate.initialState, closed)).toThrow(DecisionError);
  });

  it('opening a batch declares its release as context', () => {
    const opening = ev('BatchOpened', { batchId: 'B1', releaseId: 'R9', line: 'L1', productSku: 'SKU', plannedQuantity: 1 });
    expect(batchAggregate.context(opening).map((r) => r.stream)).toEqual(['release-R9']);
    expect(batchAggregate.context(ev('BatchClosed', { batchId: 'B1' }))).toEqual([]);
    const refused = (() => {
      try {
        batchAggregate.decide(opening, initialBatchState, contextWith(new Map([['release-R9', initialReleaseState]])));
        return null;
      } catch (e) {
        return e instanceof DecisionError ? e.rule : e;
      }
    })();
    expect(refused).toBe('RELEASE_UNKNOWN');
  });

  it("the ledger's own streams refuse any decision", () => {
    for (const event of samples.filter((e) => e.source.kind === 'ledger')) {
      const rule = aggregateOf(event).open((aggregate) => {
        if (!aggregate.accepts(event)) throw new Error('registry mismatch');
        try {
          aggregate.decide(event, aggregate.initialState, contextWith(new Map()));
          return 'accepted';
        } catch (e) {
          return e instanceof DecisionError ? e.rule : String(e);
        }
      });
      expect(rule).toBe('WRITTEN_BY_LEDGER');
    }
    expect(RULE_CODES).toContain('WRITTEN_BY_LEDGER');
  });
});
