/**
 * The steps a verification will take, known before it starts, and a step list that says each step as it
 * passes: what a display needs to show a pipeline live (pending → running → ok / failed). The names are the
 * pipelines' own (export.ts, provenance.ts, renewal.ts); a pipeline that reports a step not planned here (a
 * newer format's) is still shown, where it happened: the plan is a forecast, the report is the truth.
 */
import type { StepReport } from './provenance.ts';
import { PROVENANCE_FORMAT_V3 } from '../../schemas/provenance.ts';
import { EXPORT_FORMAT_V5 } from '../../schemas/export.ts';

export interface PlanOptions {
  /** A witness policy was given: the witnesses step runs. */
  readonly witnessPolicy?: boolean;
  /** A tree size to reach was given: the freshness step runs (it also runs with a witness policy). */
  readonly atLeast?: boolean;
  /** The document's `format`, where known: flashtrail.provenance.v3 adds the history and statement steps, flashtrail.export.v5 firmware and completeness. */
  readonly format?: unknown;
}

function checkpointSteps(o: PlanOptions): string[] {
  return ['checkpoint', ...(o.witnessPolicy ? ['witnesses'] : []), ...(o.witnessPolicy || o.atLeast ? ['freshness'] : [])];
}

/** verifyExportLines: format → checkpoint [→ witnesses] [→ freshness] → keys → history [→ firmware] → units [→ completeness] → statement. */
export function exportStepPlan(o: PlanOptions = {}): string[] {
  // flashtrail.export.v5 (docs/format.md §7.6.3): its firmware answer, and the unit records held against it.
  const v5 = o.format === EXPORT_FORMAT_V5;
  return ['format', ...checkpointSteps(o), 'keys', 'history', ...(v5 ? ['firmware'] : []), 'units', ...(v5 ? ['completeness'] : []), 'statement'];
}

/** verifyProvenance: format → checkpoint [→ witnesses] [→ freshness] → envelopes → inclusion → keys → unit [→ history → statement]. */
export function provenanceStepPlan(o: PlanOptions = {}): string[] {
  return ['format', ...checkpointSteps(o), 'envelopes', 'inclusion', 'keys', 'unit', ...(o.format === PROVENANCE_FORMAT_V3 ? ['history', 'statement'] : [])];
}

/** verifyRenewal: the bundle, the evidence as it was made, the newer checkpoint, the proof between them. */
export function renewalStepPlan(): string[] {
  return ['format', 'evidence', 'renewal checkpoint', 'consistency'];
}

/**
 * verifyExportRenewal: the bundle, the export as it was made (its own steps, as `evidence: <step>`, then their
 * summary), that it is the bundle's subject, then as verifyRenewal.
 */
export function exportRenewalStepPlan(o: PlanOptions = {}): string[] {
  return ['format', ...exportStepPlan(o).map((s) => `evidence: ${s}`), 'evidence', 'subject', 'renewal checkpoint', 'consistency'];
}

/**
 * A pipeline's step list that calls `onStep` as each step is pushed. `push` is replaced by a non-enumerable
 * own property, so the list still serializes (JSON, structured clone) as the plain array it is.
 */
export function observedSteps(onStep?: (step: StepReport) => void): StepReport[] {
  const steps: StepReport[] = [];
  if (!onStep) return steps;
  const push = steps.push.bind(steps);
  Object.defineProperty(steps, 'push', {
    enumerable: false,
    value: (...items: StepReport[]) => {
      const n = push(...items);
      for (const s of items) onStep(s);
      return n;
    },
  });
  return steps;
}
