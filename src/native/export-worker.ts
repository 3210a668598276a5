/** Worker thread of `flashtrail verify EXPORT`: verifies batches of unit records in parallel. */
import { parentPort } from 'node:worker_threads';
import { nativeCrypto } from './crypto.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { VerificationError } from '../verify/errors.ts';
import { verifyUnitRecord, type UnitRecord, type UnitResult } from '../verify/export.ts';
import type { KeyLives, StationKeyLife } from '../verify/steps.ts';

export interface WorkRequest {
  readonly id: number;
  readonly lives: [string, StationKeyLife][];
  readonly checkpoint: { size: number; root: string; origin: string };
  readonly portable: boolean;
  /** Raw NDJSON lines of unit records: decoding and parsing happen here, off the reading thread. */
  readonly units: { line: number; bytes: Uint8Array }[];
}

export type WorkReply =
  | { id: number; ok: true; results: UnitResult[] }
  | { id: number; ok: false; error: { code: VerificationError['code']; step: string; message: string; location: VerificationError['location'] } };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

let cachedLives: { key: string; lives: KeyLives } | null = null;

parentPort?.on('message', (req: WorkRequest) => {
  try {
    const livesKey = JSON.stringify(req.lives);
    if (cachedLives?.key !== livesKey) cachedLives = { key: livesKey, lives: new Map(req.lives) };
    const checkpoint = { size: req.checkpoint.size, root: fromBase64(req.checkpoint.root), origin: req.checkpoint.origin };
    const crypto = req.portable ? portableCrypto : nativeCrypto;
    const results = req.units.map((u) => {
      let record: UnitRecord;
      try {
        record = JSON.parse(strictUtf8.decode(u.bytes)) as UnitRecord;
      } catch {
        throw new VerificationError('FORMAT_ERROR', 'format', `line ${u.line} is not JSON`, { line: u.line });
      }
      return verifyUnitRecord(record, u.line, cachedLives!.lives, checkpoint, crypto);
    });
    parentPort?.postMessage({ id: req.id, ok: true, results } satisfies WorkReply);
  } catch (error) {
    const e = error instanceof VerificationError ? error : new VerificationError('FORMAT_ERROR', 'unit', (error as Error).message);
    parentPort?.postMessage({ id: req.id, ok: false, error: { code: e.code, step: e.step, message: e.message, location: e.location } } satisfies WorkReply);
  }
});
