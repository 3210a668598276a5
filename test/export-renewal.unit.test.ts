/**
 * Export renewal (docs/format.md §14.1, flashtrail.renewal.v3) through the package's verifyExportRenewal, on the
 * rotated-ledger vectors (test/vectors/format/rotation: an export from before both key rotations, renewed by the
 * real ledger after them with `flashtrail renew`): the genuine pair is reported renewed in the planned steps; the
 * bundle's shape, its subject and the export itself are each refused with their own code and step; a v3 bundle is
 * not verifiable without its export; the unit verifier is closed whatever the outcome.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FORMAT_VECTOR_DIR, lines, rotationManifest } from './helpers/format-vectors.ts';
import { exportRenewalStepPlan, inlineUnitVerifier, parseMlDsaVerifierKey, parseVerifierKey, portableCrypto, verifyExportRenewal, verifyRenewal, VerificationError, isRenewalBundle, isExportRenewalBundle, type UnitRecordVerifier } from '../src/verify/index.ts';
import { createHash } from 'node:crypto';

const key = parseVerifierKey(rotationManifest.ledgerVerifierKey);
const pq = parseMlDsaVerifierKey(rotationManifest.ledgerMlDsaVerifierKey);
const read = (name: string) => readFileSync(join(FORMAT_VECTOR_DIR, 'rotation', name));
const exportBytes = new Uint8Array(read('before.export.ndjson'));
const bundleOf = (name: string) => JSON.parse(read(name).toString('utf8')) as { subject: Record<string, unknown> } & Record<string, unknown>;

/** The inline verifier, counting how often it is closed (the pipeline owns it once handed over). */
function counted(): UnitRecordVerifier & { closed: number } {
  const inner = inlineUnitVerifier(portableCrypto);
  const v = { threads: inner.threads, verify: inner.verify.bind(inner), closed: 0, close: async () => void v.closed++ };
  return v;
}

async function failureOf(bundle: unknown, bytes: Uint8Array = exportBytes): Promise<VerificationError> {
  try {
    await verifyExportRenewal(bundle, lines(bytes), key, pq, { crypto: portableCrypto });
  } catch (error) {
    if (error instanceof VerificationError) return error;
    throw error;
  }
  throw new Error('verified, but it should not have');
}

describe('export renewal (flashtrail.renewal.v3)', () => {
  it('reports the export from before both rotations renewed, in the planned steps, pinned to the genesis keys', async () => {
    const units = counted();
    const heard: string[] = [];
    const report = await verifyExportRenewal(bundleOf('renewal.export.both.json'), lines(exportBytes), key, pq, { crypto: portableCrypto, units, onStep: (s) => heard.push(s.step) });
    expect(units.closed).toBe(1);
    expect(report.format).toBe('flashtrail.renewal.v3');
    expect(report.subject.sha256).toBe(createHash('sha256').update(exportBytes).digest('hex'));
    expect(report.evidence.units).toBeGreaterThan(0);
    // The export was made with the genesis keys; the renewal checkpoint is by both chains' second keys.
    expect(report.renewed.size).toBeGreaterThan(report.evidence.checkpoint.size);
    expect(report.renewed.signatures).toEqual(['Ed25519', 'ML-DSA-44']);
    expect(report.renewed.statement).toMatch(new RegExp(`^covered by checkpoint ${report.renewed.size} of \\d{4}-\\d\\d-\\d\\d, ML-DSA-44 \\+ Ed25519$`));
    // Every step heard, in the planned order (ledger-keys is reported where keys changed, so not planned).
    const planned = exportRenewalStepPlan();
    expect(heard.filter((s) => planned.includes(s))).toEqual(planned.filter((s) => s !== 'evidence: freshness' && s !== 'evidence: witnesses'));
    expect(report.steps.map((s) => s.step).filter((s) => s !== 'ledger-keys')).toEqual(['format', 'evidence', 'subject', 'renewal checkpoint', 'consistency']);
    // Both chains followed: an Ed25519 and an ML-DSA-44 ledger-keys step, before the renewal checkpoint.
    expect(report.steps.filter((s) => s.step === 'ledger-keys')).toHaveLength(2);
    expect(isRenewalBundle(bundleOf('renewal.export.json'))).toBe(true);
    expect(isExportRenewalBundle(bundleOf('renewal.export.json'))).toBe(true);
    expect(isExportRenewalBundle(bundleOf('renewal.json'))).toBe(false);
  });

  it('refuses a v3 bundle without its export, and a v2 bundle given as v3', async () => {
    expect(() => verifyRenewal(bundleOf('renewal.export.json'), key, pq, portableCrypto)).toThrow(/renews an export, which it names but does not hold/);
    const v2 = await failureOf(bundleOf('renewal.json'));
    expect([v2.code, v2.step]).toEqual(['FORMAT_ERROR', 'format']);
  });

  it('refuses a malformed bundle at step format, closing the unit verifier it never handed over', async () => {
    const cases: [string, (b: ReturnType<typeof bundleOf>) => void][] = [
      ['evidence', (b) => void (b['evidence'] = {})],
      ['subject.serial', (b) => void (b.subject['serial'] = 'SN-0001')],
      ['subject.kind', (b) => void (b.subject['kind'] = 'provenance')],
      ['subject.sha256', (b) => void (b.subject['sha256'] = (b.subject['sha256'] as string).toUpperCase())],
      ['subject', (b) => void ((b as Record<string, unknown>)['subject'] = null)],
      ['rotations', (b) => void delete b['rotations']],
      ['consistency', (b) => void (b['consistency'] = 'AAAA')],
    ];
    for (const [field, edit] of cases) {
      const b = bundleOf('renewal.export.json');
      edit(b);
      const units = counted();
      const error = await verifyExportRenewal(b, lines(exportBytes), key, pq, { crypto: portableCrypto, units }).then(() => null, (e: unknown) => e as VerificationError);
      expect([error?.code, error?.step, error?.location.field], field).toEqual(['FORMAT_ERROR', 'format', field]);
      expect(units.closed, field).toBe(1);
    }
  });

  it('refuses another export as RENEWAL_SUBJECT_MISMATCH with both digests as evidence', async () => {
    const other = new Uint8Array(read('ed25519.export.ndjson'));
    const error = await failureOf(bundleOf('renewal.export.json'), other);
    expect([error.code, error.step, error.location.field]).toEqual(['RENEWAL_SUBJECT_MISMATCH', 'subject', 'subject.sha256']);
    expect(error.evidence).toEqual({ bundle: bundleOf('renewal.export.json').subject['sha256'], file: createHash('sha256').update(other).digest('hex') });
  });

  it("judges the export itself first: a changed unit line fails the evidence step with the export's own code and line", async () => {
    const text = Buffer.from(exportBytes).toString('utf8').split('\n');
    const unitLine = text.findIndex((l) => l.startsWith('{"batchId":'));
    text[unitLine] = (text[unitLine] as string).replace('"SN-0001"', '"SN-0009"');
    const error = await failureOf(bundleOf('renewal.export.json'), new Uint8Array(Buffer.from(text.join('\n'))));
    expect(error.step).toMatch(/^evidence: /);
    expect(error.location.line).toBe(unitLine + 1);
    expect(error.code).not.toBe('RENEWAL_SUBJECT_MISMATCH');
  });

  it('refuses an export that lost its last line (the statement) at the evidence step, not as another subject', async () => {
    const text = Buffer.from(exportBytes).toString('utf8').split('\n').slice(0, -2).join('\n') + '\n';
    const error = await failureOf(bundleOf('renewal.export.json'), new Uint8Array(Buffer.from(text)));
    expect([error.code, error.step]).toEqual(['FORMAT_ERROR', 'evidence: statement']);
  });
});
