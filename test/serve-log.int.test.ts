/**
 * `flashtrail serve`'s log (src/server/log-destination.ts), from the real compiled CLI: one JSON line per
 * request even when the request lines of a turn are written together, each whole and in order; the lines
 * that are not request lines (start, shutdown) are there as before, the last one after every request line.
 * Needs `npm run build` (dist/).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnLedger } from './helpers/server-process.ts';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-serve-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Line {
  readonly msg: string;
  readonly requestId?: string;
  readonly path?: string;
  readonly status?: number;
}

describe('flashtrail serve logs one line per request', () => {
  it('64 concurrent requests: 64 whole request lines, each with its own request id, and shutdown after them', async () => {
    expect((await runCli(['init', '--data', join(dir, 'data')])).code).toBe(0);
    const server = await spawnLedger(join(dir, 'data'));
    const ids = Array.from({ length: 64 }, (_, i) => `log-probe-${i}`);
    let code: number | null;
    try {
      const answers = await Promise.all(ids.map((id, i) => fetch(`${server.url}${i % 2 ? '/healthz' : '/v1/units/NOPE'}`, { headers: { 'x-request-id': id } })));
      expect(answers.map((a) => a.status)).toEqual(ids.map((_, i) => (i % 2 ? 200 : 401)));
    } finally {
      code = await server.kill('SIGTERM');
    }
    expect(code).toBe(0);
    // Every line of stdout is one JSON object: nothing was cut or interleaved by writing lines together.
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
    const requests = lines.filter((l) => l.msg === 'request' && l.requestId?.startsWith('log-probe-'));
    expect(requests.map((l) => l.requestId).sort()).toEqual([...ids].sort());
    for (const r of requests) expect(r.status).toBe(r.path === '/healthz' ? 200 : 401);
    // The shutdown lines come after the last request line: pending lines went out first.
    const last = lines.findLastIndex((l) => l.msg === 'request');
    expect(lines.findIndex((l) => l.msg === 'stopped')).toBeGreaterThan(last);
    // No token or secret in the request lines.
    expect(server.output()).not.toMatch(/Bearer/);
  }, 60_000);
});
