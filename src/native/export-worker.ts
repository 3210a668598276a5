/** Worker thread of the Node export verifier: verifies batches of unit record lines (see verify/export.ts). */
import { parentPort } from 'node:worker_threads';
import { nativeCrypto } from './crypto.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { VerificationError } from '../verify/errors.ts';
import { unitContextOf, verifyUnitLine, type PreparedContext, type UnitContext, type UnitResult } from '../verify/export.ts';

/**
 * One batch of unit record lines, packed into one buffer that is transferred, not copied: line i is
 * bytes [ends[i - 1], ends[i]) of `bytes`, with line number `lines[i]`. The context comes with a worker's first
 * batch of an export and again only when it changes (null: the one before).
 */
export interface WorkRequest {
  readonly id: number;
  readonly context: UnitContext | null;
  readonly portable: boolean;
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
  readonly lines: Float64Array;
}

export type WorkReply =
  | { id: number; ok: true; results: UnitResult[] }
  | { id: number; ok: false; error: { code: VerificationError['code']; step: string; message: string; location: VerificationError['location'] } };

// The context (station keys, checkpoint, batches) is the same for every batch of one export: decoded once.
let context: PreparedContext | null = null;

parentPort?.on('message', (req: WorkRequest) => {
  try {
    if (req.context) context = unitContextOf(req.context);
    if (!context) throw new Error('a batch came before its context');
    const crypto = req.portable ? portableCrypto : nativeCrypto;
    const results: UnitResult[] = [];
    for (let i = 0, start = 0; i < req.ends.length; start = req.ends[i++] as number) {
      results.push(verifyUnitLine({ line: req.lines[i] as number, bytes: req.bytes.subarray(start, req.ends[i]) }, context, crypto));
    }
    parentPort?.postMessage({ id: req.id, ok: true, results } satisfies WorkReply);
  } catch (error) {
    // Anything but a VerificationError is a bug: it still ends the export's verification as a failure, named.
    const e = error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', `the verifier failed unexpectedly: ${(error as Error).message}`);
    parentPort?.postMessage({ id: req.id, ok: false, error: { code: e.code, step: e.step, message: e.message, location: e.location } } satisfies WorkReply);
  }
});
