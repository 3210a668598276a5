/**
 * /metrics scraped from a real ledger on a loopback port after real appends, retries, refusals and a
 * checkpoint: each series is there with the value those requests must have produced.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootloaderData, scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { EventSigner } from '../src/event/signer.ts';

let t: TestLedger;

interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** Prometheus text format 0.0.4: `name{label="value",…} number`. */
function parse(text: string): Map<string, Sample[]> {
  const series = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    series.set(m[1]!, [...(series.get(m[1]!) ?? []), { labels, value: Number(m[3]) }]);
  }
  return series;
}

function value(series: Map<string, Sample[]>, name: string, labels: Record<string, string> = {}): number | undefined {
  return series.get(name)?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(): Promise<Map<string, Sample[]>> {
  const response = await fetch(`${t.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
}

const post = (path: string, token: string, body: unknown) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  t = await startTestLedger();
});
afterAll(async () => t?.stop());

describe('/metrics', () => {
  it('counts appends by type and outcome, refusals by code, and times requests by route', async () => {
    const before = await scrape();
    const st1 = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const scans = ['M-1', 'M-2'].map((serial) => st1.sign('UnitScanned', scanData(serial)));
    expect((await post('/v1/events', t.tokens.station1, { events: scans.map((s) => s.envelope) })).status).toBe(201);
    expect((await post('/v1/events', t.tokens.station1, scans[0]!.envelope)).status).toBe(200);
    // Not scanned: refused by the unit decider.
    expect((await post('/v1/events', t.tokens.station1, st1.sign('BootloaderWritten', bootloaderData('M-9', t.release)).envelope)).status).toBe(409);
    expect((await fetch(`${t.url}/v1/units/M-1`)).status).toBe(401);
    expect((await fetch(`${t.url}/v1/units?nope=1`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).status).toBe(400);
    for (const serial of ['M-1', 'M-2']) expect((await fetch(`${t.url}/v1/units/${serial}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).status).toBe(200);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => (value(after, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    expect(delta('flashtrail_appends_total', { type: 'UnitScanned', outcome: 'appended' })).toBe(2);
    expect(delta('flashtrail_appends_total', { type: 'UnitScanned', outcome: 'duplicate' })).toBe(1);
    expect(delta('flashtrail_appends_total', { type: 'BootloaderWritten', outcome: 'refused' })).toBe(1);
    // The fixture's line setup went through the administrator route: counted too.
    expect(value(after, 'flashtrail_appends_total', { type: 'StationRegistered', outcome: 'appended' })).toBe(2);
    expect(delta('flashtrail_refusals_total', { code: 'RULE_VIOLATION' })).toBe(1);
    expect(delta('flashtrail_refusals_total', { code: 'UNAUTHORIZED' })).toBe(1);
    expect(delta('flashtrail_refusals_total', { code: 'QUERY_INVALID' })).toBe(1);
    // Route patterns, not raw paths: both units fall under one series.
    expect(delta('flashtrail_http_request_duration_seconds_count', { method: 'GET', route: '/v1/units/:serial', status: '200' })).toBe(2);
    expect(delta('flashtrail_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', status: '201' })).toBe(1);
    expect(after.get('flashtrail_http_request_duration_seconds_count')?.some((s) => s.labels['route']?.includes('M-1'))).toBe(false);
    const bucket = value(after, 'flashtrail_http_request_duration_seconds_bucket', { method: 'POST', route: '/v1/events', status: '201', le: '+Inf' });
    expect(bucket).toBe(value(after, 'flashtrail_http_request_duration_seconds_count', { method: 'POST', route: '/v1/events', status: '201' }));
  });

  it('reports projection lag, Merkle log size, checkpoint age and store size from the parts themselves', async () => {
    expect((await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).status).toBe(201);
    await t.running.projections.catchUp();
    const m = await scrape();
    const head = Number(await t.running.store.headPosition());
    expect(value(m, 'flashtrail_event_store_head_position')).toBe(head);
    expect(value(m, 'flashtrail_merkle_log_leaves')).toBe(await t.running.log.size());
    expect(value(m, 'flashtrail_merkle_log_leaves')).toBeGreaterThan(5);
    expect(value(m, 'flashtrail_projection_lag_events', { projection: 'unit-state' })).toBe(0);
    expect(value(m, 'flashtrail_projection_lag_events', { projection: 'production' })).toBe(0);
    const age = value(m, 'flashtrail_checkpoint_age_seconds');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
    const file = join(t.dataDir, 'events.sqlite');
    let bytes = statSync(file).size;
    try {
      bytes += statSync(`${file}-wal`).size;
    } catch {
      // no write-ahead log right now
    }
    expect(value(m, 'flashtrail_event_store_bytes')).toBe(bytes);
    expect(value(m, 'flashtrail_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
