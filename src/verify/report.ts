/** Plain-text rendering of verification reports, shared by the CLI, the demo and the standalone verifier. */
import type { StepReport } from './provenance.ts';
import type { VerificationError } from './errors.ts';

export function stepLines(steps: readonly StepReport[]): string[] {
  return steps.map((s) => `  ok  ${s.step.padEnd(14)} ${s.detail}`);
}

export function failureLine(error: VerificationError): string {
  return `  FAIL ${error.step.padEnd(13)} ${error.code}: ${error.message}`;
}
