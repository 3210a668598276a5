/** The component index projection as a pure reducer: documents and the index rows queries find them by. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { componentIndexProjection, cpeProductKey, purlKey, type ReleaseComponents, type UnitCarrying } from '../../projections/components.ts';
import { ingestSbom } from '../../src/cra/sbom.ts';
import { sbomAttachment } from '../../src/cra/index-entries.ts';
import type { LedgerEvent } from '../../schemas/index.ts';
import { ev, hash } from '../helpers/events.ts';

/** Folds events the way the runner does: one document per key, indexes recomputed from each new document. */
function fold(events: LedgerEvent[]) {
  const docs = new Map<string, unknown>();
  const index = new Map<string, [string, string][]>();
  for (const event of events) {
    const key = componentIndexProjection.keyOf(event);
    if (key === null) continue;
    const next = componentIndexProjection.evolve((docs.get(key) ?? null) as never, event, { stream: '', revision: 0n, position: 0n, digest: '' }, <T,>(k: string) => (docs.get(k) ?? null) as T | null);
    docs.set(key, next);
    index.set(key, (componentIndexProjection.indexes?.(next) ?? []).map(([n, v]) => [n, v]));
  }
  const find = (name: string, value: string) => [...index.entries()].filter(([, rows]) => rows.some(([n, v]) => n === name && v === value)).map(([k]) => k).sort();
  return { docs, find };
}

const cdx = readFileSync(new URL('../fixtures/cra/sensor-fw-2.3.0.cdx.json', import.meta.url));
const release = { releaseId: 'R1', productSku: 'SKU', version: '2.3.0', bootloaderSha256: hash('b'), applicationSha256: hash('a'), provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb', sbomSha256: hash('5') };

describe('component index', () => {
  const events: LedgerEvent[] = [
    ev('ReleaseApproved', release),
    ev('ReleaseApproved', { ...release, releaseId: 'R2', version: '2.4.1', sbomSha256: undefined } as never),
    ev('SbomAttached', sbomAttachment('R1', ingestSbom(new Uint8Array(cdx)), cdx.length)),
    ev('SupportPeriodSet', { releaseId: 'R1', supportEnd: '2031-12' }),
    ev('BatchOpened', { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 3 }),
    ...['SN1', 'SN2', 'SN3'].map((serial) => ev('UnitScanned', { serial, batchId: 'B1', station: 'ST-01', operator: 'op', productSku: 'SKU', hardwareRevision: 'A' })),
    ev('UnitShipped', { serial: 'SN1', customer: 'ACME', orderRef: 'PO-1' }),
    ev('UnitShipped', { serial: 'SN2', customer: 'Borealis', orderRef: 'PO-2' }),
    ev('FirmwareUpdated', { serial: 'SN2', fromReleaseId: 'R1', toReleaseId: 'R2', images: [{ name: 'application', sha256: hash('a') }], method: 'ota' }, { source: 'FLEET' }),
  ];
  const { docs, find } = fold(events);

  it("indexes a release's components by purl identity, CPE product and name", () => {
    const r1 = docs.get('release:R1') as ReleaseComponents;
    expect(r1.sbom).toMatchObject({ format: 'CycloneDX', specVersion: '1.6' });
    expect(r1.supportEnd).toBe('2031-12');
    expect(r1.components.map((c) => c.name)).toContain('mbedtls');
    expect(find('purl', purlKey('pkg:github/Mbed-TLS/mbedtls@3.5.1') as string)).toEqual(['release:R1']);
    expect(find('component-name', 'mbedtls')).toEqual(['release:R1']);
    expect(find('kind', 'release')).toEqual(['release:R1', 'release:R2']);
    const cpes = r1.components.flatMap((c) => c.cpes);
    expect(cpes.length).toBeGreaterThan(0);
    for (const cpe of cpes) expect(find('cpe-product', cpeProductKey(cpe) as string)).toEqual(['release:R1']);
  });

  it('indexes shipped units by the release they shipped with and the one they carry now; units on the line not at all', () => {
    expect(find('shipped-release', 'R1')).toEqual(['unit:SN1', 'unit:SN2']);
    expect(find('current-release', 'R1')).toEqual(['unit:SN1']);
    expect(find('current-release', 'R2')).toEqual(['unit:SN2']);
    expect(find('customer', 'Borealis')).toEqual(['unit:SN2']);
    const sn2 = docs.get('unit:SN2') as UnitCarrying;
    expect(sn2).toMatchObject({ madeReleaseId: 'R1', currentReleaseId: 'R2', status: 'shipped', customer: 'Borealis' });
    expect(sn2.updates).toEqual([expect.objectContaining({ fromReleaseId: 'R1', toReleaseId: 'R2', method: 'ota' })]);
    expect((docs.get('unit:SN3') as UnitCarrying).status).toBe('in_production');
    expect(find('shipped-release', 'R1')).not.toContain('unit:SN3');
  });
});
