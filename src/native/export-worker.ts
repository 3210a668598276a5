/** Worker thread of the Node export verifier: verifies batches of unit record lines (see verify/export.ts). */
import { parentPort } from 'node:worker_threads';
import { nativeCrypto } from './crypto.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { VerificationError } from '../verify/errors.ts';
import { unitContextOf, verifyUnitLine, type PreparedContext, type UnitContext, type UnitLine, type UnitResult } from '../verify/export.ts';

export interface WorkRequest {
  readonly id: number;
  readonly context: UnitContext;
  readonly portable: boolean;
  readonly units: readonly UnitLine[];
}

export type WorkReply =
  | { id: number; ok: true; results: UnitResult[] }
  | { id: number; ok: false; error: { code: VerificationError['code']; step: string; message: string; location: VerificationError['location'] } };

// The context (station keys, checkpoint, batches) is the same for every batch of one export: decode it once.
let cached: { key: string; value: PreparedContext } | null = null;

parentPort?.on('message', (req: WorkRequest) => {
  try {
    const key = JSON.stringify(req.context);
    if (cached?.key !== key) cached = { key, value: unitContextOf(req.context) };
    const crypto = req.portable ? portableCrypto : nativeCrypto;
    const context = cached.value;
    const results = req.units.map((u) => verifyUnitLine(u, context, crypto));
    parentPort?.postMessage({ id: req.id, ok: true, results } satisfies WorkReply);
  } catch (error) {
    // Anything but a VerificationError is a bug: it still ends the export's verification as a failure, named.
    const e = error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', `the verifier failed unexpectedly: ${(error as Error).message}`);
    parentPort?.postMessage({ id: req.id, ok: false, error: { code: e.code, step: e.step, message: e.message, location: e.location } } satisfies WorkReply);
  }
});
