/**
 * A Web Worker of the offline page: verifies batches of unit record lines with the portable backend
 * (@noble/ed25519 with the strict RFC 8032 checks, @noble/hashes SHA-256), as a worker thread of the CLI does.
 */
import { portableCrypto, unitContextOf, verifyUnitLine, VerificationError, type UnitContext } from '../../verify/index.ts';
import type { WorkReply, WorkRequest } from './protocol.ts';

interface WorkerScope {
  onmessage: ((event: { data: WorkRequest }) => void) | null;
  postMessage(message: WorkReply): void;
}

const scope = globalThis as unknown as WorkerScope;
// The context is the same for every batch of one export: decode it once.
let cached: { context: string; value: ReturnType<typeof unitContextOf> } | null = null;

function prepared(context: UnitContext): ReturnType<typeof unitContextOf> {
  const key = JSON.stringify(context);
  if (cached?.context !== key) cached = { context: key, value: unitContextOf(context) };
  return cached.value;
}

scope.onmessage = ({ data: req }) => {
  try {
    const context = prepared(req.context);
    scope.postMessage({ id: req.id, ok: true, results: req.units.map((u) => verifyUnitLine(u, context, portableCrypto)) });
  } catch (error) {
    const e = error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', `the verifier failed unexpectedly: ${(error as Error).message}`);
    scope.postMessage({ id: req.id, ok: false, error: { code: e.code, step: e.step, message: e.message, location: e.location } });
  }
};
