/**
 * The live read-model pass of a ledger on SQLite is driven by the store's own commits (src/server/main.ts,
 * liveReadModel), not by a subscription reading rows back: a real server on loopback, real appends over HTTP,
 * and no query route in between (each of those would catch the read model up itself) — the read model's
 * checkpoints must reach the head on their own, for the pipeline's group commits and for the ledger's own
 * events (a checkpoint's CheckpointIssued is written by the checkpointer, not through the pipeline). On
 * PostgreSQL (FLASHTRAIL_TEST_STORE) the same holds through the runner's subscription.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { EventSigner } from '../src/event/signer.ts';

let t: TestLedger;

beforeAll(async () => {
  t = await startTestLedger();
});
afterAll(async () => t?.stop());

/** The read model's lag behind the head, read from its checkpoints without catching it up. */
async function lags(): Promise<bigint[]> {
  return (await t.running.projections.status()).map((s) => s.lag);
}

/** Polls until every projection has no lag; the last lags seen when it does not happen in time. */
async function settled(timeoutMs = 10_000): Promise<bigint[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await lags();
    if (now.every((lag) => lag === 0n) || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const post = (path: string, token: string, body: unknown) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('live read model', () => {
  it('catches up after concurrent appends with no query asking for it', async () => {
    expect(await settled()).toEqual([0n, 0n, 0n]);
    const head = await t.running.store.headPosition();
    const st1 = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const scans = Array.from({ length: 24 }, (_, i) => st1.sign('UnitScanned', scanData(`LIVE-${i}`)).envelope);
    // Concurrent requests: several of them share a group commit, and the pass after it takes them all.
    const statuses = await Promise.all(scans.map(async (envelope) => (await post('/v1/events', t.tokens.station1, envelope)).status));
    expect(statuses).toEqual(scans.map(() => 201));
    // At least the 24: the checkpointer may have written one of its own meanwhile.
    expect(await t.running.store.headPosition()).toBeGreaterThanOrEqual(head + 24n);
    expect(await settled()).toEqual([0n, 0n, 0n]);
    // The documents are there, read straight from the read model (get does not catch up).
    for (let i = 0; i < 24; i++) expect(t.running.projections.get<{ serial: string }>('unit-state', `LIVE-${i}`)?.serial).toBe(`LIVE-${i}`);
  });

  it("projects the ledger's own events, which do not go through the pipeline", async () => {
    const head = await t.running.store.headPosition();
    expect((await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).status).toBe(201);
    expect(await t.running.store.headPosition()).toBeGreaterThan(head);
    expect(await settled()).toEqual([0n, 0n, 0n]);
  });
});
