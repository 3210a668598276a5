/**
 * The README's "Running a monitor" commands, run as written: each shell block between its markers, in bash, with
 * `flashtrail` the shipped command line (dist/) and `curl`, against a real ledger in this process. The pin block
 * fetches the first keys and pins them in monitor.state; the run block, run twice, continues from it (only the
 * new entries, each checkpoint consistent with the last), and its --webhook delivers the finding an insider's
 * write causes to a real loopback receiver.
 *
 * Why a draft of this test hung: a block run with spawnSync/execSync blocks the event loop of the process the
 * ledger runs in, so the block's curl and monitor wait forever for a ledger that cannot answer (reproduced: a
 * spawnSync'd `curl …/v1/ledger/key` against the in-process ledger printed nothing until its timeout killed it).
 * Here each block
 * is spawned asynchronously, with stdin closed (nothing can wait on it), in its own process group (detached) so
 * that a timeout kills the block and everything it started, and every group still alive is killed in afterAll;
 * the webhook receiver drops its keep-alive connections before it closes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, scanData, type TestLedger } from './helpers/ledger-fixture.ts';
import { FLASHTRAIL_BIN, ROOT } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { unitStream } from '../src/event/streams.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blockOf = (name: string) => new RegExp(`<!-- ${name}:begin -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(readme)?.[1];
const pinBlock = blockOf('monitor-pin');
const runBlock = blockOf('monitor-run');

const missing = ['bash', 'curl'].find((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
if (missing) console.warn(`monitor-readme.int: skipped, ${missing} is not on the PATH`);

const STEP_TIMEOUT_MS = 90_000;
let t: TestLedger;
let work: string;
let receiver: Server;
let hook: string;
const received: Record<string, unknown>[] = [];
/** Process groups of blocks still running: killed in afterAll whatever happened. */
const groups = new Set<number>();

interface BlockRun {
  status: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** One block in bash -e, asynchronously (the ledger in this process keeps answering), in a process group of its own. */
function runBlockOnce(block: string | undefined): Promise<BlockRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', block ?? 'exit 99'], {
      cwd: work,
      env: { ...process.env, PATH: `${join(work, 'bin')}:${process.env['PATH'] ?? ''}`, FLASHTRAIL_URL: t.url, ALERT_WEBHOOK: hook },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid as number;
    groups.add(pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(pid);
    }, STEP_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr: stderr + String(error), timedOut });
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      groups.delete(pid);
      resolve({ status, stdout, stderr, timedOut });
    });
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const lines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const auditorGet = async (path: string) => (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
const sizeNow = async () => Number((await auditorGet('/v1/checkpoint')).split('\n')[1]);
let serials = 0;
async function activity(): Promise<void> {
  await new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(`RM-${++serials}`, 'pass-unshipped');
  const r = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  expect(r.status, await r.text()).toBeLessThan(300);
}

beforeAll(async () => {
  if (missing) return;
  work = mkdtempSync(join(tmpdir(), 'flashtrail-monitor-readme-'));
  t = await startTestLedger({ dataDir: join(work, 'data') });
  writeFileSync(join(work, 'auditor.token'), `${t.tokens.auditor}\n`, { mode: 0o600 });
  // `flashtrail` on the PATH is the shipped command line, as `npm install -g` would put it there.
  mkdirSync(join(work, 'bin'));
  writeFileSync(join(work, 'bin', 'flashtrail'), `#!/bin/sh\nexec "${process.execPath}" "${FLASHTRAIL_BIN}" "$@"\n`);
  chmodSync(join(work, 'bin', 'flashtrail'), 0o755);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/flashtrail`;
  await activity();
}, 60_000);

afterAll(async () => {
  for (const pid of groups) killGroup(pid);
  if (receiver) {
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
  }
  await t?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing !== undefined)(`README: Running a monitor${missing ? ` (skipped: no ${missing})` : ''}`, () => {
  it('the pin block runs as written: both first keys fetched and pinned in monitor.state, the log audited', async () => {
    expect(pinBlock, 'README has the monitor-pin block').toBeDefined();
    const r = await runBlockOnce(pinBlock);
    expect(r.timedOut).toBe(false);
    expect(r.stderr, r.stdout).toBe('');
    expect(r.status).toBe(0);
    const size = await sizeNow();
    const ledgerKey = (await auditorGet('/v1/ledger/key')).trim();
    const pqKey = (await auditorGet('/v1/ledger/pq-key')).trim();
    expect(lines(r.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', size, audited: size, signatures: ['Ed25519', 'ML-DSA-44'], ledgerKey: ledgerKey.split('+')[1], mlDsaKey: pqKey.split('+')[1] })]);
    expect(readFileSync(join(work, 'ledger.vkey'), 'utf8').trim()).toBe(ledgerKey);
    expect(readFileSync(join(work, 'ledger-pq.vkey'), 'utf8').trim()).toBe(pqKey);
    const state = JSON.parse(readFileSync(join(work, 'monitor.state'), 'utf8')) as { keys: unknown; audit: { size: number } };
    expect(state.keys).toEqual({ ledger: ledgerKey, mlDsa: pqKey });
    expect(state.audit.size).toBe(size);
    expect(statSync(join(work, 'monitor.state')).mode & 0o777).toBe(0o600);
  }, STEP_TIMEOUT_MS + 10_000);

  it('the run block continues from monitor.state: the new entries only, consistent with the last checkpoint, nothing posted', async () => {
    expect(runBlock, 'README has the monitor-run block').toBeDefined();
    const before = await sizeNow();
    await activity();
    const size = await sizeNow();
    expect(size).toBeGreaterThan(before);
    const r = await runBlockOnce(runBlock);
    expect(r.timedOut).toBe(false);
    expect(r.stderr, r.stdout).toBe('');
    expect(r.status).toBe(0);
    expect(lines(r.stdout)).toEqual([expect.objectContaining({ kind: 'checkpoint', size, consistentWith: before, audited: size, signatures: ['Ed25519', 'ML-DSA-44'] })]);
    expect(received).toEqual([]);
  }, STEP_TIMEOUT_MS + 10_000);

  it('run again after an insider write: the finding is a JSON line, exit 1, and reaches the webhook', async () => {
    // An insider scans RM-1 into a second batch, past the decider, straight into the store.
    const head = (await t.running.store.readStream(unitStream('RM-1'))).at(-1)!;
    const scan = new EventSigner(t.stationKeys['ST-01'], 'ST-01').sign('UnitScanned', scanData('RM-1', 'B-OTHER'), { prev: decodeTrustedEnvelope(head.data).digest });
    await t.running.store.appendToStream(unitStream('RM-1'), [{ id: scan.event.id, type: scan.event.type, data: envelopeBytes(scan.envelope) }]);
    await activity();
    const r = await runBlockOnce(runBlock);
    expect(r.timedOut).toBe(false);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const findings = lines(r.stdout).filter((l) => l['kind'] === 'finding');
    expect(findings).toEqual([expect.objectContaining({ code: 'UNIT_IN_TWO_BATCHES', step: 'invariants', evidence: expect.objectContaining({ serial: 'RM-1', batchId: 'B-OTHER', event: expect.objectContaining({ eventId: scan.event.id }) }) })]);
    // The monitor waits for its deliveries before it exits: the receiver has them now.
    expect(received).toEqual(findings);
  }, STEP_TIMEOUT_MS + 10_000);
});
