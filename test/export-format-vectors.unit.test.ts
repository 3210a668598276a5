/**
 * Our verifier against the format vectors (test/vectors/format/manifest.json, docs/format.md §11), the same
 * files a third-party verifier is run against: every genuine file verifies, every invalid one fails with the
 * listed code (and where the manifest says, at the listed place), on both crypto backends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { portableCrypto, VerificationError } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import type { CryptoBackend } from '../src/crypto/backend.ts';
import { FORMAT_VECTOR_DIR, manifest, verifyVector, type FormatVector } from './helpers/format-vectors.ts';

async function verdict(v: FormatVector, crypto: CryptoBackend): Promise<{ code: string; location: Record<string, unknown> }> {
  try {
    await verifyVector(v, crypto);
    return { code: 'ok', location: {} };
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return { code: error.code, location: { ...error.location } };
  }
}

describe('format vectors', () => {
  it('cover every export and provenance format, genuine and broken', () => {
    const formats = new Set(manifest.vectors.map((v) => `${v.format} ${v.expect === 'ok' ? 'ok' : 'invalid'}`));
    for (const f of ['flashtrail.export.v1', 'flashtrail.export.v2', 'flashtrail.export.v3', 'flashtrail.export.v4', 'flashtrail.export.v5', 'flashtrail.provenance.v1', 'flashtrail.provenance.v2', 'flashtrail.provenance.v3']) {
      expect(formats.has(`${f} ok`)).toBe(true);
      expect(formats.has(`${f} invalid`)).toBe(true);
    }
  });

  it('the fast canonical-form check reads the genuine v4 unit records as canonical, and a changed byte as not', async () => {
    const { isUnitRecordText } = await import('../src/verify/records.ts');
    const units = readFileSync(join(FORMAT_VECTOR_DIR, 'v4/genuine.export.ndjson'), 'utf8').trimEnd().split('\n').filter((l) => (JSON.parse(l) as { record: string }).record === 'unit');
    expect(units.length).toBeGreaterThan(0);
    for (const text of units) {
      const r = JSON.parse(text) as Parameters<typeof isUnitRecordText>[0] & { events: { envelope: Parameters<typeof isUnitRecordText>[1][number] }[] };
      const envelopes = r.events.map((e) => e.envelope);
      expect(isUnitRecordText(r, envelopes, text)).toBe(true);
      expect(isUnitRecordText(r, envelopes, text.replace('"history":{', '"history": {'))).toBe(false);
      expect(isUnitRecordText(r, envelopes, text.replace('"history":{"proof":', '"history":{"value":null,"proof":'))).toBe(false);
    }
  });

  for (const v of manifest.vectors) {
    it(`${v.file}: ${v.expect}`, async () => {
      for (const crypto of [portableCrypto, nativeCrypto]) {
        const got = await verdict(v, crypto);
        expect(got.code, `${crypto.name}: ${v.description}`).toBe(v.expect);
        if ('location' in v && v.location) expect(got.location).toMatchObject(v.location);
      }
    });
  }
});
