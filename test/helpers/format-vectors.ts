/**
 * The format vectors (test/vectors/format, docs/format.md §9) as the tests run them: the manifest, the keys it
 * names, and one way to verify a vector with the options its manifest entry declares (hybrid signatures, the
 * verifier page, the index log key: always for provenance, for an export where the entry says `mapKey`), so every test that walks the vectors verifies them alike.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import manifest from '../vectors/format/manifest.json' with { type: 'json' };
import { inlineUnitVerifier, parseMlDsaVerifierKey, parseVerifierKey, verifyExportLines, verifyExportRenewal, verifyProvenance, verifyRenewal, type StepReport } from '../../src/verify/index.ts';
import type { CryptoBackend } from '../../src/crypto/backend.ts';

export { manifest };
export type FormatVector = (typeof manifest.vectors)[number];

export const FORMAT_VECTOR_DIR = join(fileURLToPath(import.meta.url), '..', '..', 'vectors', 'format');
export const ledgerKey = parseVerifierKey(manifest.ledgerVerifierKey);
/** The index log key: v3 documents' history is checked with it (docs/format.md §15.5). */
export const mapKey = parseVerifierKey(manifest.mapVerifierKey);
export const mlDsaKey = parseMlDsaVerifierKey(manifest.ledgerMlDsaVerifierKey);

/** The file's lines as bytes, each with its newline (the last one as it is). */
export async function* lines(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 10) {
      yield bytes.subarray(start, i + 1);
      start = i + 1;
    }
  }
  if (start < bytes.length) yield bytes.subarray(start);
}

/** Verifies one vector as a verifier given its manifest entry would; throws the VerificationError of a broken one. */
export async function verifyVector(v: FormatVector, crypto: CryptoBackend, onStep?: (step: StepReport) => void): Promise<{ steps: StepReport[] }> {
  const bytes = new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, v.file)));
  const hybrid = 'signatures' in v && v.signatures === 'hybrid';
  if (v.kind === 'export') {
    return verifyExportLines(lines(bytes), ledgerKey, {
      crypto,
      units: inlineUnitVerifier(crypto),
      ...(hybrid ? { signatures: { mlDsaKey } } : {}),
      ...('page' in v && typeof v.page === 'string' ? { verifierPage: new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, v.page))) } : {}),
      ...('mapKey' in v && v.mapKey === true ? { mapKey } : {}),
      ...(onStep ? { onStep } : {}),
    });
  }
  return verifyProvenance(JSON.parse(new TextDecoder().decode(bytes)), ledgerKey, crypto, { mapKey, ...(hybrid ? { mlDsaKey } : {}), ...(onStep ? { onStep } : {}) });
}

/** The rotated-ledger vectors (test/vectors/format/rotation, generate-rotation.ts): their own manifest and keys. */
export interface RotationVector {
  readonly file: string;
  readonly kind: 'export' | 'provenance' | 'renewal' | 'export-renewal';
  /** kind `export-renewal`: the export the bundle is verified with (docs/format.md §14.1). */
  readonly export?: string;
  readonly expect: string;
  readonly rule: string;
  readonly description: string;
  readonly needs?: string;
  readonly pin?: 'newest' | 'newest-ml-dsa';
}
export interface RotationManifest {
  readonly ledgerVerifierKey: string;
  readonly ledgerMlDsaVerifierKey: string;
  readonly newestLedgerVerifierKey: string;
  readonly newestLedgerMlDsaVerifierKey: string;
  readonly mapVerifierKey: string;
  readonly vectors: readonly RotationVector[];
}
export const rotationManifest = JSON.parse(readFileSync(join(FORMAT_VECTOR_DIR, 'rotation', 'manifest.json'), 'utf8')) as RotationManifest;

/** Verifies one rotation vector with the keys its entry names (genesis unless `pin`), under the hybrid policy. */
export async function verifyRotationVector(v: RotationVector, crypto: CryptoBackend): Promise<unknown> {
  const m = rotationManifest;
  const key = parseVerifierKey(v.pin === 'newest' ? m.newestLedgerVerifierKey : m.ledgerVerifierKey);
  const pq = parseMlDsaVerifierKey(v.pin !== undefined ? m.newestLedgerMlDsaVerifierKey : m.ledgerMlDsaVerifierKey);
  const map = parseVerifierKey(m.mapVerifierKey);
  const bytes = new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, v.file)));
  if (v.kind === 'export') return verifyExportLines(lines(bytes), key, { crypto, units: inlineUnitVerifier(crypto), signatures: { mlDsaKey: pq }, mapKey: map });
  const doc: unknown = JSON.parse(new TextDecoder().decode(bytes));
  if (v.kind === 'export-renewal') return verifyExportRenewal(doc, lines(new Uint8Array(readFileSync(join(FORMAT_VECTOR_DIR, v.export as string)))), key, pq, { crypto, units: inlineUnitVerifier(crypto), mapKey: map });
  if (v.kind === 'renewal') return verifyRenewal(doc, key, pq, crypto);
  return verifyProvenance(doc as Parameters<typeof verifyProvenance>[0], key, crypto, { mapKey: map, mlDsaKey: pq });
}
