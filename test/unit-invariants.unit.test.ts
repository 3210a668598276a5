/**
 * The monitor's unit invariants (src/verify/unit-invariants.ts) over events in log order: each invariant broken
 * once, the finding names it with its evidence; a clean unit raises none; the state survives JSON.
 */
import { describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../schemas/index.ts';
import { UnitInvariants } from '../src/verify/unit-invariants.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const X = 'c'.repeat(64);
let n = 0;
const ev = (type: string, data: Record<string, unknown>, kind = 'station', schemaVersion = 1) => ({ id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, type, schemaVersion, occurredAt: '2026-12-02T10:00:00.000Z', source: { kind, id: kind === 'station' ? 'ST-01' : 'admin' }, prev: null, data }) as unknown as LedgerEvent;
const release = ev('ReleaseApproved', { releaseId: 'R-1', productSku: 'S', version: '1', bootloaderSha256: A, applicationSha256: B, provisioningTemplateSha256: A, signingKeyDigest: A, efuseProfile: 'p' }, 'admin');
const batch = ev('BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L', productSku: 'S', plannedQuantity: 2 }, 'admin');
const scan = (serial: string, mac: string, chipId = `chip-${serial}`) => ev('UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'o', productSku: 'S', hardwareRevision: 'r', chipId, mac });
const verified = (serial: string, reportedSha256: string) => ev('AppVerified', { serial, imageSha256: reportedSha256, version: '1', sizeBytes: 1, reportedSha256, method: 'flash_readback', result: 'pass' });

function run(events: LedgerEvent[], inv = UnitInvariants.empty()) {
  return events.flatMap((e, i) => inv.observe(e, i));
}

describe('unit invariants', () => {
  it('a clean unit raises nothing', () => {
    expect(run([release, batch, scan('U1', '02:00:00:00:00:01'), verified('U1', B), ev('UnitShipped', { serial: 'U1', customer: 'c', orderRef: 'o' })])).toEqual([]);
  });

  it('names each violation with its evidence', () => {
    const findings = run([
      release,
      batch,
      scan('U1', '02:00:00:00:00:01'),
      scan('U2', '02:00:00:00:00:01'),
      scan('U3', '02:00:00:00:00:03'),
      verified('U1', X),
      ev('UnitScrapped', { serial: 'U2', reason: 'r' }),
      ev('UnitReworked', { serial: 'U2', reason: 'r' }),
      ev('UnitShipped', { serial: 'U3', customer: 'c', orderRef: 'o' }),
      ev('UnitReworked', { serial: 'U3', reason: 'r' }),
    ]);
    expect(findings.map((f) => [f.code, f.serial, f.evidence.event.leafIndex])).toEqual([
      ['IDENTITY_CONFLICT', 'U2', 3],
      ['BATCH_OVER_PLANNED', 'U3', 4],
      ['IMAGE_NOT_APPROVED', 'U1', 5],
      ['EVENT_AFTER_SCRAP', 'U2', 7],
      ['EVENT_AFTER_SHIP', 'U3', 9],
    ]);
    expect(findings[0]!.evidence).toMatchObject({ mac: '02:00:00:00:00:01', serials: ['U1', 'U2'], first: { leafIndex: 2 } });
    expect(findings[2]!.evidence).toMatchObject({ releaseId: 'R-1', reported: X, approved: [B] });
  });

  it('a serial scanned into a second batch is UNIT_IN_TWO_BATCHES, naming both scans; a rescan into its own batch is not', () => {
    const second = ev('BatchOpened', { batchId: 'B-2', releaseId: 'R-1', line: 'L', productSku: 'S', plannedQuantity: 5 }, 'admin');
    const rescan = ev('UnitScanned', { serial: 'U1', batchId: 'B-2', station: 'ST-01', operator: 'o', productSku: 'S', hardwareRevision: 'r', chipId: 'chip-U1', mac: '02:00:00:00:00:01' });
    const findings = run([release, batch, second, scan('U1', '02:00:00:00:00:01'), scan('U1', '02:00:00:00:00:01'), rescan]);
    expect(findings.map((f) => [f.code, f.serial, f.evidence.event.leafIndex])).toEqual([['UNIT_IN_TWO_BATCHES', 'U1', 5]]);
    expect(findings[0]!.evidence).toMatchObject({ batchId: 'B-2', firstBatchId: 'B-1', first: { leafIndex: 3 } });
  });

  it('continues from a state kept as JSON exactly as a run over the whole log', () => {
    const log = [release, batch, scan('U1', '02:00:00:00:00:01'), scan('U2', '02:00:00:00:00:02'), scan('U3', '02:00:00:00:00:03')];
    const whole = run(log);
    const first = UnitInvariants.empty();
    const before = log.slice(0, 3).flatMap((e, i) => first.observe(e, i));
    const resumed = UnitInvariants.fromJSON(JSON.parse(JSON.stringify(first)));
    const after = log.slice(3).flatMap((e, i) => resumed.observe(e, i + 3));
    expect([...before, ...after]).toEqual(whole);
    expect(whole.map((f) => f.code)).toEqual(['BATCH_OVER_PLANNED']);
    expect(() => UnitInvariants.fromJSON({ version: 2 })).toThrow(/version 1/);
  });
});
