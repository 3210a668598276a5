/** Worker thread of the append path's signature pool (./signature-pool.ts): verifies batches of envelopes. */
import { parentPort } from 'node:worker_threads';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import { nativeCrypto } from './crypto.ts';
import { envelopeOfJob, type SignatureBatch, type SignatureVerdicts } from './signature-pool.ts';

parentPort?.on('message', (batch: SignatureBatch) => {
  const verdicts = new Uint8Array(batch.jobs.length);
  batch.jobs.forEach((job, i) => {
    // Any exception is a failed verification, as on the writer thread: verifyEnvelopeSignature catches its own.
    verdicts[i] = verifyEnvelopeSignature(envelopeOfJob(job), job.publicKey, nativeCrypto) ? 1 : 0;
  });
  parentPort?.postMessage({ id: batch.id, verdicts } satisfies SignatureVerdicts);
});
