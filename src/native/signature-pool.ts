/**
 * Ed25519 verification of DSSE envelopes on worker threads, for the append path: the ledger's one writer
 * thread then only decodes, decides and writes, while the verifications (about 40 % of an append's CPU)
 * run beside it. Every worker runs the same `verifyEnvelopeSignature` with the same strict backend
 * (`nativeCrypto`: OpenSSL plus the RFC 8032 checks of src/native/ed25519.ts), so a verdict is the one the
 * writer thread would have reached itself.
 *
 * Requests that arrive during one turn of the event loop travel to a worker as one message (one structured
 * clone, one wake-up), spread over the workers by how many verifications each has in flight. If a worker
 * fails, what it held is verified on the calling thread and the pool goes on with the others; with none
 * left every verification runs on the calling thread. Workers start on first use and do not keep the
 * process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { verifyEnvelopeSignature, type DsseEnvelope } from '../crypto/dsse.ts';
import { nativeCrypto } from './crypto.ts';

/** What the append pipeline needs: a verdict on one envelope's single signature under one public key. */
export interface EnvelopeSignatureVerifier {
  verify(envelope: DsseEnvelope, publicKey: Uint8Array): Promise<boolean>;
  /**
   * Verdicts on several envelopes, sent to the workers at once (spread over them) rather than after the
   * poll phase: for a caller that goes on verifying its own share of a large batch meanwhile.
   */
  verifyNow?(items: readonly { readonly envelope: DsseEnvelope; readonly publicKey: Uint8Array }[]): Promise<boolean[]>;
  /** How many worker threads verify: what a caller sharing a batch with them splits it by. */
  readonly threads?: number;
  close(): Promise<void>;
}

/** One envelope and key, as sent to a worker: the strings and bytes verifyEnvelopeSignature reads. */
export interface SignatureJob {
  readonly payloadType: string;
  readonly payload: string;
  readonly keyid: string;
  readonly sig: string;
  readonly publicKey: Uint8Array;
}

export interface SignatureBatch {
  readonly id: number;
  readonly jobs: readonly SignatureJob[];
}

/** 1 for a signature that verifies, 0 for one that does not, in the order of the batch's jobs. */
export interface SignatureVerdicts {
  readonly id: number;
  readonly verdicts: Uint8Array;
}

/** The envelope a job carries, in the shape verifyEnvelopeSignature takes (one signature, as the schema admits). */
export function envelopeOfJob(job: SignatureJob): DsseEnvelope {
  return { payloadType: job.payloadType, payload: job.payload, signatures: [{ keyid: job.keyid, sig: job.sig }] };
}

/** The job for one envelope; null for one the schema never admits (not exactly one signature): it does not verify. */
function jobOf(envelope: DsseEnvelope, publicKey: Uint8Array): SignatureJob | null {
  const sig = envelope.signatures[0];
  if (envelope.signatures.length !== 1 || sig === undefined) return null;
  return { payloadType: envelope.payloadType, payload: envelope.payload, keyid: sig.keyid, sig: sig.sig, publicKey };
}

interface Waiting {
  readonly job: SignatureJob;
  readonly resolve: (valid: boolean) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  /** Batches sent and not yet answered, by id. */
  readonly inFlight: Map<number, readonly Waiting[]>;
  jobs: number;
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./signature-worker-boot.mjs', import.meta.url) : new URL('./signature-worker.js', import.meta.url);
}

/** How many verification threads a ledger starts by default: one per core beside the writer thread, at least one, at most four. */
export function defaultVerifyThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

export class SignatureVerifierPool implements EnvelopeSignatureVerifier {
  private readonly workers: PoolWorker[] = [];
  private queue: Waiting[] = [];
  private flushing = false;
  private nextId = 0;
  private started = false;
  private closed = false;

  /** `threads` worker threads; `maxBatch` bounds the verifications of one message. */
  constructor(
    readonly threads: number,
    private readonly maxBatch = 256,
  ) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`a signature pool needs at least one thread, not ${threads}`);
  }

  verify(envelope: DsseEnvelope, publicKey: Uint8Array): Promise<boolean> {
    // What the schema never admits is answered here, as verifyEnvelopeSignature answers it.
    const job = jobOf(envelope, publicKey);
    if (job === null) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      this.queue.push({ job, resolve });
      if (!this.flushing) {
        this.flushing = true;
        // After the poll phase: every request read in this turn of the loop travels in the same message.
        setImmediate(() => this.flush());
      }
    });
  }

  verifyNow(items: readonly { readonly envelope: DsseEnvelope; readonly publicKey: Uint8Array }[]): Promise<boolean[]> {
    const verdicts: Promise<boolean>[] = [];
    const waiting: Waiting[] = [];
    for (const { envelope, publicKey } of items) {
      const job = jobOf(envelope, publicKey);
      if (job === null) verdicts.push(Promise.resolve(false));
      else verdicts.push(new Promise<boolean>((resolve) => waiting.push({ job, resolve })));
    }
    this.dispatch(waiting);
    return Promise.all(verdicts);
  }

  private flush(): void {
    this.flushing = false;
    const queue = this.queue;
    this.queue = [];
    this.dispatch(queue);
  }

  /** Sends verifications now: in one message per worker when they fit (each worker a share), else in messages of maxBatch. */
  private dispatch(queue: readonly Waiting[]): void {
    if (queue.length === 0) return;
    if (!this.started && !this.closed) this.start();
    const size = Math.min(this.maxBatch, Math.ceil(queue.length / Math.max(1, this.workers.length)));
    for (let i = 0; i < queue.length; i += size) this.send(queue.slice(i, i + size));
  }

  private start(): void {
    this.started = true;
    for (let i = 0; i < this.threads; i++) this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(workerUrl());
    const entry: PoolWorker = { worker, inFlight: new Map(), jobs: 0 };
    worker.unref();
    worker.on('message', (reply: SignatureVerdicts) => {
      const batch = entry.inFlight.get(reply.id);
      if (!batch) return;
      entry.inFlight.delete(reply.id);
      entry.jobs -= batch.length;
      batch.forEach((w, i) => w.resolve(reply.verdicts[i] === 1));
    });
    const lost = () => {
      const index = this.workers.indexOf(entry);
      if (index < 0) return;
      this.workers.splice(index, 1);
      // Nothing it held is left unanswered: verified here instead.
      for (const batch of entry.inFlight.values()) this.verifyHere(batch);
      entry.inFlight.clear();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    this.workers.push(entry);
  }

  private send(batch: readonly Waiting[]): void {
    let target: PoolWorker | undefined;
    for (const w of this.workers) if (target === undefined || w.jobs < target.jobs) target = w;
    if (target === undefined) return this.verifyHere(batch);
    const id = this.nextId++;
    target.inFlight.set(id, batch);
    target.jobs += batch.length;
    target.worker.postMessage({ id, jobs: batch.map((w) => w.job) } satisfies SignatureBatch);
  }

  private verifyHere(batch: readonly Waiting[]): void {
    for (const w of batch) w.resolve(verifyEnvelopeSignature(envelopeOfJob(w.job), w.job.publicKey, nativeCrypto));
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    for (const w of workers) {
      for (const batch of w.inFlight.values()) this.verifyHere(batch);
      w.inFlight.clear();
    }
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}
