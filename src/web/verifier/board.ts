/**
 * The state of the page's step list, apart from the DOM: the pipeline's planned steps, each pending, running,
 * ok, failed or not run. A step reported that the plan does not list (a newer format's) is shown where it
 * happened; a failure is placed on the step it names when the plan has it, else on the step that was running
 * (a unit record that fails at its `inclusion` or `unit` check fails the export's `units` step).
 */
import type { FailureLocation, StepReport, VerifyErrorCode } from '../../verify/index.ts';

export type StepState = 'pending' | 'running' | 'ok' | 'failed' | 'not-run';

export interface BoardStep {
  readonly name: string;
  state: StepState;
  /** What the step established (ok) or the failure's message (failed). */
  detail: string;
  code?: VerifyErrorCode;
  /** The step name the failure carries, when it is not this step's own (`unit` within `units`). */
  failedAt?: string;
  location?: FailureLocation;
}

export class StepBoard {
  readonly steps: BoardStep[];

  constructor(plan: readonly string[]) {
    this.steps = plan.map((name) => ({ name, state: 'pending', detail: '' }));
    this.advance();
  }

  /** The step now running, if any. */
  get running(): BoardStep | undefined {
    return this.steps.find((s) => s.state === 'running');
  }

  /** A step passed: marked ok, and the next pending one starts. */
  passed(report: StepReport): BoardStep {
    let step = this.steps.find((s) => s.name === report.step && (s.state === 'pending' || s.state === 'running'));
    if (!step) {
      // Not planned: shown before the step that was running (or at the end), as it happened.
      step = { name: report.step, state: 'ok', detail: report.detail };
      const at = this.steps.findIndex((s) => s.state === 'running' || s.state === 'pending');
      this.steps.splice(at < 0 ? this.steps.length : at, 0, step);
    } else {
      // A planned step before it that never reported did not run (an optional step, not asked for).
      for (const s of this.steps.slice(0, this.steps.indexOf(step))) if (s.state === 'pending' || s.state === 'running') s.state = 'not-run';
      step.state = 'ok';
      step.detail = report.detail;
    }
    this.advance();
    return step;
  }

  /** The verification failed: the step it names (or the one running) failed; what had not started did not run. */
  failed(error: { code: VerifyErrorCode; step: string; message: string; location: FailureLocation }): BoardStep {
    const named = this.steps.find((s) => s.name === error.step && (s.state === 'pending' || s.state === 'running'));
    let step = named ?? this.running ?? this.steps.find((s) => s.state === 'pending');
    if (!step) {
      step = { name: error.step, state: 'failed', detail: '' };
      this.steps.push(step);
    }
    for (const s of this.steps.slice(0, this.steps.indexOf(step))) if (s.state === 'pending' || s.state === 'running') s.state = 'not-run';
    step.state = 'failed';
    step.detail = error.message;
    step.code = error.code;
    step.location = error.location;
    if (step.name !== error.step) step.failedAt = error.step;
    for (const s of this.steps) if (s.state === 'pending' || s.state === 'running') s.state = 'not-run';
    return step;
  }

  /** Verified: a planned step that never reported did not run (optional). */
  finished(): void {
    for (const s of this.steps) if (s.state === 'pending' || s.state === 'running') s.state = 'not-run';
  }

  private advance(): void {
    if (this.running) return;
    const next = this.steps.find((s) => s.state === 'pending');
    if (next) next.state = 'running';
  }
}

/** Where a failure is, in words: unit, line, field. */
export function whereText(location: FailureLocation | undefined): string {
  if (!location) return '';
  return [location.serial !== undefined ? `unit ${location.serial}` : '', location.line !== undefined ? `line ${location.line}` : '', location.field !== undefined ? `field ${location.field}` : ''].filter(Boolean).join(', ');
}
