/**
 * What a synchronous verification refused with: the tests that expect a coded refusal (docs/format.md §9) ask
 * this one place instead of each catching VerificationError its own way. Any other error is rethrown: a bug
 * must not pass for a refusal.
 */
import { VerificationError } from '../../src/verify/index.ts';

/** The VerificationError `f` throws, or null when it returns. */
export function verificationFailure(f: () => unknown): VerificationError | null {
  try {
    f();
    return null;
  } catch (error) {
    if (error instanceof VerificationError) return error;
    throw error;
  }
}

/** The VerificationError `f` throws; a test that expected one fails when `f` returns. */
export function expectedVerificationFailure(f: () => unknown): VerificationError {
  const failure = verificationFailure(f);
  if (failure === null) throw new Error('expected a VerificationError');
  return failure;
}
