/** Messages between the page and its Web Workers: the browser's form of src/native/export-worker.ts's. */
import type { UnitContext, UnitLine, UnitResult, VerifyErrorCode, FailureLocation } from '../../verify/index.ts';

export interface WorkRequest {
  readonly id: number;
  readonly context: UnitContext;
  readonly units: readonly UnitLine[];
}

export type WorkReply =
  | { readonly id: number; readonly ok: true; readonly results: UnitResult[] }
  | { readonly id: number; readonly ok: false; readonly error: { code: VerifyErrorCode; step: string; message: string; location: FailureLocation } };
