/**
 * `flashtrail verify EXPORT` on Node: streams the file line by line with backpressure into the pure export
 * pipeline (src/verify/export.ts), with unit records verified on all cores by worker threads. Native
 * Ed25519 and SHA-256 by default; `portable` uses the pure-JS backend (the same verdicts, slower).
 */
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nativeCrypto } from './crypto.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { VerificationError } from '../verify/errors.ts';
import type { NoteKey } from '../tlog/note.ts';
import { MAX_EXPORT_LINE_BYTES } from '../verify/export-format.ts';
import type { WitnessPolicy } from '../tlog/policy.ts';
import type { SignaturePolicy } from '../verify/signature-policy.ts';
import { verifyExportLines, type ExportReport, type UnitContext, type UnitRecordVerifier, type UnitResult } from '../verify/export.ts';
import type { WorkReply, WorkRequest } from './export-worker.ts';

export type { ExportReport };

/**
 * Lines of a file as bytes (newline included), pulled chunk by chunk: the file is read only as fast as
 * lines are consumed. A line longer than `maxLineBytes` is refused as soon as that many bytes are buffered,
 * so a hostile file cannot make the verifier hold more.
 */
export async function* readLines(file: string, maxLineBytes = MAX_EXPORT_LINE_BYTES): AsyncGenerator<Uint8Array> {
  // The bytes of a line begun in an earlier chunk: only they are copied (joined with the rest of their line), the
  // lines wholly inside a chunk are views of it.
  let rest: Buffer[] = [];
  let restBytes = 0;
  let line = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const data = chunk as Buffer;
    let start = 0;
    let nl = data.indexOf(10);
    if (restBytes > 0 && nl >= 0) {
      line++;
      yield Buffer.concat([...rest, data.subarray(0, nl + 1)]);
      [rest, restBytes, start] = [[], 0, nl + 1];
      nl = data.indexOf(10, start);
    }
    for (; nl >= 0; nl = data.indexOf(10, start)) {
      line++;
      yield data.subarray(start, nl + 1);
      start = nl + 1;
    }
    if (start < data.length) {
      rest.push(data.subarray(start));
      restBytes += data.length - start;
    }
    if (restBytes > maxLineBytes) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line + 1} is longer than ${maxLineBytes} bytes`, { file, line: line + 1 });
  }
  if (restBytes > 0) yield Buffer.concat(rest);
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./export-worker-boot.mjs', import.meta.url) : new URL('./export-worker.js', import.meta.url);
}

/**
 * A pool of worker threads behind the pipeline's UnitRecordVerifier interface. A batch travels as one buffer,
 * transferred (the pipeline's own buffer of its lines, no structured clone of each), and the context only when it is new to
 * the worker: both costs are paid per batch, not per line.
 */
export function workerPoolVerifier(threads: number, portable: boolean): UnitRecordVerifier {
  const workers = Array.from({ length: threads }, () => ({ worker: new Worker(workerUrl()), context: null as UnitContext | null }));
  const pending = new Map<number, (reply: WorkReply) => void>();
  for (const { worker } of workers) worker.on('message', (reply: WorkReply) => pending.get(reply.id)?.(reply));
  let nextId = 0;
  return {
    threads,
    verify: (batch, context) =>
      new Promise<UnitResult[]>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, (reply) => {
          pending.delete(id);
          if (reply.ok) resolve(reply.results);
          else reject(new VerificationError(reply.error.code, reply.error.step, reply.error.message, reply.error.location));
        });
        const to = workers[id % workers.length] as (typeof workers)[number];
        const ends = new Uint32Array(batch.length);
        const lines = new Float64Array(batch.length);
        // The pipeline hands the lines as one buffer's views, one after another from its start (UnitRecordVerifier):
        // that buffer goes as it is. Lines in any other arrangement are copied into one.
        const buffer = batch[0]?.bytes.buffer;
        let at = 0;
        let contiguous = buffer instanceof ArrayBuffer;
        batch.forEach((u, i) => {
          contiguous &&= u.bytes.buffer === buffer && u.bytes.byteOffset === at;
          ends[i] = at += u.bytes.length;
          lines[i] = u.line;
        });
        const bytes = contiguous ? new Uint8Array(buffer as ArrayBuffer, 0, at) : new Uint8Array(at);
        if (!contiguous) batch.forEach((u, i) => bytes.set(u.bytes, i === 0 ? 0 : (ends[i - 1] as number)));
        const fresh = to.context !== context;
        to.context = context;
        to.worker.postMessage({ id, context: fresh ? context : null, portable, bytes, ends, lines } satisfies WorkRequest, [bytes.buffer, ends.buffer, lines.buffer]);
      }),
    close: async () => {
      await Promise.all(workers.map(({ worker }) => worker.terminate()));
    },
  };
}

export interface VerifyExportFileOptions {
  readonly workers?: number;
  readonly portable?: boolean;
  readonly onProgress?: (units: number, events: number) => void;
  readonly policy?: WitnessPolicy;
  readonly atLeast?: number;
  readonly signatures?: SignaturePolicy;
  /** The offline verifier page to compare with the digest a v3 statement names. */
  readonly verifierPage?: Uint8Array;
  /** The index log's verifier key: a v4 export's per-unit history is checked (docs/format.md §7.6.2). */
  readonly mapKey?: NoteKey;
}

export async function verifyExportFile(file: string, ledgerKey: NoteKey, options: VerifyExportFileOptions = {}): Promise<ExportReport> {
  const portable = options.portable ?? false;
  const threads = Math.max(1, options.workers ?? availableParallelism());
  try {
    return await verifyExportLines(readLines(file), ledgerKey, {
      crypto: portable ? portableCrypto : nativeCrypto,
      units: workerPoolVerifier(threads, portable),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.atLeast !== undefined ? { atLeast: options.atLeast } : {}),
      ...(options.signatures ? { signatures: options.signatures } : {}),
      ...(options.verifierPage ? { verifierPage: options.verifierPage } : {}),
      ...(options.mapKey ? { mapKey: options.mapKey } : {}),
    });
  } catch (error) {
    if (error instanceof VerificationError) throw error.location.file ? error : new VerificationError(error.code, error.step, error.message, { file, ...error.location });
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new VerificationError('FORMAT_ERROR', 'format', `cannot read ${file}: ${(error as Error).message}`, { file });
    throw error;
  }
}
