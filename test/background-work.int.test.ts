/**
 * The ledger keeps answering while its background work catches up on a burst of events: the read model's
 * projections, the Merkle log (a checkpoint) and the unit history map each work through the backlog in
 * slices and let the event loop serve requests between them.
 *
 * Why it matters (issue 19): a catch-up that never yields holds every connection for as long as it runs. Node's
 * HTTP server arms a keep-alive timer (5 s) when it sends a response; when the loop comes back after a longer
 * block, that timer fires before the next request, already sent by the client and waiting in the socket, is
 * read, and the socket is destroyed with unread data: the client sees ECONNRESET instead of an answer. That is
 * how `npm run bench:projections -- --quick` ended, with the unit map committing its first checkpoint of
 * 100k events (~15 s) while the benchmark was querying the server over keep-alive.
 *
 * What is asserted is the order of two things on one real server on loopback, no clock involved: a request
 * already in the server's kept-alive socket when a catch-up starts is answered before that catch-up finishes.
 * A catch-up that runs its whole backlog without giving the loop a turn answers it after, and fails here; one
 * whose slices hold the loop longer than the keep-alive timeout fails with ECONNRESET.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillLedger, type FilledLedger } from '../bench/fixtures.ts';
import { startLedgerServer, type RunningLedger } from '../src/server/main.ts';
import type { SqliteEventStore } from '../src/store/sqlite.ts';

/** Many slices of background work (each sized to about 50 ms, at most 5,000 events): the loop gets several turns before the end. */
const BURST = 16_000;

let dir: string;
let filled: FilledLedger;
let running: RunningLedger;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-background-'));
  filled = await fillLedger(join(dir, 'ledger'), 60);
  running = await startLedgerServer({ ...filled.config, port: 0, logLevel: 'error' }, pino({ level: 'error' }));
  // Nothing runs behind the test's back: each catch-up below is started by the test, on a backlog it made.
  await running.checkpointer.stop();
  await running.unitMap?.stop();
  await running.projections.stop();
  await running.checkpointer.issue();
  await running.unitMap?.catchUp();
  await running.projections.catchUp();
  // A burst of stations catching up after an outage, appended to the running ledger's own store.
  await filled.appendUnits(running.store as SqliteEventStore, BURST);
}, 120_000);

afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A kept-alive connection that has had one answer (the server armed its keep-alive timer), as a client's is. */
async function keptAliveConnection(): Promise<Socket> {
  const socket = connect(running.port, '127.0.0.1');
  await once(socket, 'connect');
  const first = once(socket, 'data');
  socket.write('GET /healthz HTTP/1.1\r\nHost: ledger\r\nConnection: keep-alive\r\n\r\n');
  expect(String((await first)[0])).toMatch(/^HTTP\/1\.1 200 /);
  return socket;
}

/**
 * Sends a request and, in the same turn of the event loop, starts `work`: the request's bytes are in the
 * server's socket before the work's first slice runs. Returns what happened first.
 */
async function sentBefore(work: () => Promise<unknown>): Promise<{ order: string[]; answer: string }> {
  const socket = await keptAliveConnection();
  const order: string[] = [];
  const answered = once(socket, 'data').then(([chunk]) => {
    order.push('answered');
    return String(chunk);
  });
  socket.write('GET /healthz HTTP/1.1\r\nHost: ledger\r\nConnection: keep-alive\r\n\r\n');
  const done = work().then(() => order.push('caught up'));
  const [answer] = await Promise.all([answered, done]);
  socket.destroy();
  return { order, answer };
}

describe('background catch-up on a burst of events', () => {
  it('the read model catching up lets a waiting request be answered first', async () => {
    const before = (await running.projections.status())[0]?.lag ?? 0n;
    expect(before).toBeGreaterThanOrEqual(BigInt(BURST));
    const { order, answer } = await sentBefore(() => running.projections.catchUp());
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(order).toEqual(['answered', 'caught up']);
    for (const s of await running.projections.status()) expect(s.lag).toBe(0n);
  }, 120_000);

  it('the Merkle log catching up for a checkpoint lets a waiting request be answered first', async () => {
    const leavesBefore = await running.log.size();
    const { order } = await sentBefore(() => running.checkpointer.issue());
    expect(order).toEqual(['answered', 'caught up']);
    expect(await running.log.size()).toBeGreaterThanOrEqual(leavesBefore + BURST);
  }, 120_000);

  it('the unit history map committing that checkpoint lets a waiting request be answered first', async (ctx) => {
    const map = running.unitMap;
    if (!map) return ctx.skip();
    const sizeBefore = map.committed().at(-1)?.size ?? 0;
    const { order } = await sentBefore(() => map.catchUp());
    expect(order).toEqual(['answered', 'caught up']);
    // It did commit the checkpoint over the burst.
    expect(map.committed().at(-1)?.size ?? 0).toBeGreaterThanOrEqual(sizeBefore + BURST);
  }, 120_000);
});
