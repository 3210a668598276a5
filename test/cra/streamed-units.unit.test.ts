/**
 * CSV and NDJSON unit lists are produced as the client reads, a page at a time: the bytes are those of the
 * whole list, and the digest, unit and customer counts handed to the recorder are of exactly those bytes.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { streamedUnits } from '../../src/api/cra-routes.ts';
import type { UnitRow } from '../../src/read/cra-queries.ts';

const row = (n: number): UnitRow => ({ serial: `SN-${String(n).padStart(5, '0')}`, customer: `Customer ${n % 7}`, orderRef: `PO-${n}`, shippedAt: '2026-11-02T08:00:00.000Z', batchId: 'B-1', releaseId: 'R-1', version: '1.0.0', shippedReleaseId: 'R-1', currentReleaseId: 'R-1', fieldUpdates: 0, supportEnd: '2031-12', supported: true, components: 'mbedtls@3.5.1' });

function* rows(count: number, pulled: { n: number }): Generator<UnitRow> {
  for (let n = 1; n <= count; n++) {
    pulled.n = n;
    yield row(n);
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<{ chunks: number; text: string }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return { chunks: parts.length, text: Buffer.concat(parts).toString('utf8') };
}

describe('streamed unit lists', () => {
  it('NDJSON of 1,201 units: three pages, every row once, the recorder told the digest of the bytes sent', async () => {
    const pulled = { n: 0 };
    const told: [string, number, number][] = [];
    const stream = streamedUnits('ndjson', rows(1201, pulled), (sha, units, customers) => {
      told.push([sha, units, customers]);
      return Promise.resolve();
    });
    const { chunks, text } = await readAll(stream);
    const lines = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as UnitRow).serial);
    expect(lines).toEqual(Array.from({ length: 1201 }, (_, i) => row(i + 1).serial));
    expect(chunks).toBe(3);
    expect(pulled.n).toBe(1201);
    expect(told).toEqual([[createHash('sha256').update(text).digest('hex'), 1201, 7]]);
  });

  it('CSV: the header once, then one record per unit', async () => {
    const { text } = await readAll(streamedUnits('csv', rows(3, { n: 0 }), () => Promise.resolve()));
    const lines = text.split('\r\n').filter(Boolean);
    expect(lines[0]).toMatch(/^serial,customer,order,/);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['SN-00001', 'SN-00002', 'SN-00003']);
  });

  it('an empty list is still a whole list (the CSV header), and is recorded', async () => {
    const told: number[] = [];
    const { text } = await readAll(streamedUnits('csv', rows(0, { n: 0 }), (_sha, units) => {
      told.push(units);
      return Promise.resolve();
    }));
    expect(text).toMatch(/^serial,customer,/);
    expect(told).toEqual([0]);
  });
});
