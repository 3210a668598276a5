/**
 * A signing thread of the fill (bench/fixtures.ts): builds, signs and chains whole units (bench/fill-units.ts)
 * and sends back their ids and envelope bytes, packed in one transferred buffer; the fill's own thread only
 * appends them, in unit order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fillEvents, type FillSetup } from './fill-units.ts';

export interface FillJob {
  readonly job: number;
  /** Units first to last, inclusive. */
  readonly first: number;
  readonly last: number;
}

export interface FillAnswer {
  readonly job: number;
  /** Every event's id, units in order, six a unit. */
  readonly ids: string[];
  /** The envelopes' bytes back to back; event i ends at ends[i]. */
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
}

const events = fillEvents(workerData as FillSetup);
parentPort?.on('message', ({ job, first, last }: FillJob) => {
  const ids: string[] = [];
  const datas: Uint8Array[] = [];
  for (let unit = first; unit <= last; unit++) {
    for (const e of events.unit(unit)) {
      ids.push(e.id);
      datas.push(e.data);
    }
  }
  const ends = new Uint32Array(datas.length);
  let total = 0;
  datas.forEach((d, i) => (ends[i] = total += d.byteLength));
  const bytes = new Uint8Array(total);
  datas.forEach((d, i) => bytes.set(d, (ends[i] as number) - d.byteLength));
  parentPort?.postMessage({ job, ids, bytes, ends } satisfies FillAnswer, [bytes.buffer, ends.buffer]);
});
