/**
 * The offline page's live step list: the plan (src/verify/plan.ts) is the steps the pipelines report, in their
 * order, for every genuine format vector of v1 and v2; each step is announced as it passes (observedSteps), and
 * the report stays a plain array; the board (src/web/verifier/board.ts) puts a failure on the step that ran.
 */
import { describe, expect, it } from 'vitest';
import { exportStepPlan, provenanceStepPlan, VerificationError, type StepReport } from '../src/verify/index.ts';
import { StepBoard } from '../src/web/verifier/board.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { manifest, verifyVector, type FormatVector } from './helpers/format-vectors.ts';

/** The steps a vector's verification announces, as they pass, and its verdict. */
async function observe(v: FormatVector): Promise<{ seen: string[]; reported: StepReport[] | null; error: VerificationError | null }> {
  const seen: string[] = [];
  try {
    const report = await verifyVector(v, nativeCrypto, (s) => seen.push(s.step));
    return { seen, reported: report.steps, error: null };
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return { seen, reported: null, error };
  }
}

const v1v2 = manifest.vectors.filter((v) => /\.v[12]$/.test(v.format));
const v3Provenance = manifest.vectors.filter((v) => v.format === 'flashtrail.provenance.v3' && v.expect === 'ok');

describe('the verification plan and the live steps', () => {
  it('plans exactly the steps each genuine v1 and v2 vector reports, and announces each as it passes', async () => {
    const genuine = [...v1v2.filter((v) => v.expect === 'ok'), ...v3Provenance];
    expect(genuine.length).toBeGreaterThanOrEqual(5);
    for (const v of genuine) {
      const { seen, reported } = await observe(v);
      expect(reported?.map((s) => s.step), v.file).toEqual(v.kind === 'export' ? exportStepPlan() : provenanceStepPlan({ format: v.format }));
      expect(seen, v.file).toEqual(reported?.map((s) => s.step));
      // Still a plain array: JSON and structured clone see the steps, not the observer.
      expect(JSON.parse(JSON.stringify(reported))).toEqual(reported);
      expect(structuredClone(reported)).toEqual(reported);
    }
  });

  it('plans the firmware and completeness steps of a genuine v5 export (§7.6.3), in the order they are reported', async () => {
    const v5 = manifest.vectors.filter((v) => v.format === 'flashtrail.export.v5' && v.expect === 'ok');
    expect(v5.length).toBeGreaterThanOrEqual(2);
    for (const v of v5) {
      const { seen, reported } = await observe(v);
      expect(reported?.map((s) => s.step), v.file).toEqual(exportStepPlan({ format: v.format }));
      expect(seen, v.file).toEqual(reported?.map((s) => s.step));
    }
    expect(exportStepPlan({ format: 'flashtrail.export.v4' })).not.toContain('firmware');
  });

  it('a broken vector announces the steps before its failure, each a planned one, and the board fails the step that ran', async () => {
    const broken = v1v2.filter((v) => v.expect !== 'ok');
    expect(broken.length).toBeGreaterThan(10);
    for (const v of broken) {
      const { seen, error } = await observe(v);
      expect(error, v.file).not.toBeNull();
      const plan = v.kind === 'export' ? exportStepPlan() : provenanceStepPlan();
      expect(seen, v.file).toEqual(plan.slice(0, seen.length));
      const board = new StepBoard(plan);
      for (const step of seen) board.passed({ step, detail: '' });
      const failed = board.failed(error as VerificationError);
      const index = board.steps.indexOf(failed);
      expect(failed.code, v.file).toBe(error?.code);
      // The failing step is the first that had not passed, unless the failure names a later planned step.
      if (!plan.includes((error as VerificationError).step)) expect(index, v.file).toBe(seen.length);
      expect(board.steps.slice(0, seen.length).every((s) => s.state === 'ok'), v.file).toBe(true);
      expect(board.steps.slice(index + 1).every((s) => s.state === 'not-run'), v.file).toBe(true);
    }
  });

  it('shows a step the plan does not list where it happened, and a planned one that never ran as not run', () => {
    const board = new StepBoard(['format', 'checkpoint', 'witnesses', 'keys', 'units', 'statement']);
    expect(board.running?.name).toBe('format');
    board.passed({ step: 'format', detail: 'v9' });
    board.passed({ step: 'checkpoint', detail: 'ok' });
    expect(board.running?.name).toBe('witnesses');
    board.passed({ step: 'keys', detail: 'ok' });
    board.passed({ step: 'units', detail: 'ok' });
    board.passed({ step: 'history', detail: 'a newer format’s step' });
    expect(board.steps.map((s) => [s.name, s.state])).toEqual([['format', 'ok'], ['checkpoint', 'ok'], ['witnesses', 'not-run'], ['keys', 'ok'], ['units', 'ok'], ['history', 'ok'], ['statement', 'running']]);
    const failed = board.failed({ code: 'SIGNATURE_ERROR', step: 'statement', message: 'no', location: { line: 9 } });
    expect([failed.name, failed.state, failed.code, failed.failedAt]).toEqual(['statement', 'failed', 'SIGNATURE_ERROR', undefined]);
    const units = new StepBoard(['format', 'units', 'statement']);
    units.passed({ step: 'format', detail: '' });
    const inUnits = units.failed({ code: 'INCLUSION_PROOF_ERROR', step: 'inclusion', message: 'no', location: { line: 4, serial: 'SN-1' } });
    expect([inUnits.name, inUnits.failedAt, units.steps[2]?.state]).toEqual(['units', 'inclusion', 'not-run']);
  });
});
