/**
 * Power-cut durability, proven from the system calls: under strace, `flashtrail init`, `tokens add`,
 * `keys generate`, `keys rotate`, `keys backup` and `export` write every file to a temporary file in its directory, fsync
 * it before renaming (or linking) it onto its name, fsync the directory after, and only then say they are
 * done. New directories are fsynced into their parents. (Without strace these tests are skipped, and say why.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durableDirectories, durableWrites, stdoutWrites, straceAvailable, traceCli, type Traced } from './helpers/strace.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';

const probe = straceAvailable();
const skip = probe.ok ? null : probe.why;
if (skip) console.warn(`strace durability tests skipped: ${skip}`);

const root = mkdtempSync(join(tmpdir(), 'flashtrail-durable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Success is said only after the last directory fsync: nothing the command reported is still in a cache. */
function expectSaidAfterDurable(traced: Traced, under: string): void {
  const lastDirSync = Math.max(...traced.calls.filter((c) => c.name === 'fsync' && new RegExp(`^\\d+<${under.replaceAll('/', '\\/')}`).test(c.args)).map((c) => c.end));
  const said = stdoutWrites(traced.calls);
  expect(said.length).toBeGreaterThan(0);
  expect(Math.min(...said.map((c) => c.start))).toBeGreaterThan(lastDirSync);
}

describe.skipIf(skip !== null)('durable writes, as the kernel saw them', () => {
  it('flashtrail init: the data directory and its eight files', async () => {
    const data = join(root, 'init', 'data');
    const traced = await traceCli(['init', '--data', data]);
    expect(traced.result.code, traced.result.stderr).toBe(0);
    expect(durableDirectories(traced.calls, join(root, 'init')).sort()).toEqual([join(root, 'init'), data]);
    const writes = durableWrites(traced.calls, data);
    expect(writes.map((w) => w.path).sort()).toEqual(['admin-keys.json', 'admin.key', 'admin.token', 'ledger-ml-dsa.key', 'ledger.json', 'ledger.key', 'tokens.json', 'unit-map.key'].map((f) => join(data, f)));
    // Keys are linked, never renamed: an existing key is never replaced.
    expect(writes.filter((w) => w.via === 'link').map((w) => w.path).sort()).toEqual([join(data, 'admin.key'), join(data, 'ledger-ml-dsa.key'), join(data, 'ledger.key'), join(data, 'unit-map.key')]);
    expectSaidAfterDurable(traced, data);
  });

  it('flashtrail tokens add', async () => {
    const data = join(root, 'tokens');
    // tokens add refuses a directory no ledger has initialised: initialise it first (not traced).
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const traced = await traceCli(['tokens', 'add', '--name', 'st-01', '--role', 'station', '--station', 'ST-01', '--data', data]);
    expect(traced.result.code, traced.result.stderr).toBe(0);
    expect(durableWrites(traced.calls, data).map((w) => w.path)).toEqual([join(data, 'tokens.json')]);
    expectSaidAfterDurable(traced, data);
    const again = await traceCli(['tokens', 'add', '--name', 'auditor', '--role', 'auditor', '--data', data]);
    expect(durableWrites(again.calls, data).map((w) => [w.path, w.via])).toEqual([[join(data, 'tokens.json'), 'rename']]);
  });

  it('flashtrail keys generate', async () => {
    const dir = join(root, 'keys');
    const traced = await traceCli(['keys', 'generate', '--out', join(dir, 'st-01.key')], { env: {} });
    // The directory must exist: keys generate creates no directories (it names the missing one instead).
    expect(traced.result.code).toBe(1);
    const made = await traceCli(['keys', 'generate', '--out', join(root, 'st-01.key')]);
    expect(made.result.code, made.result.stderr).toBe(0);
    expect(durableWrites(made.calls, root).map((w) => [w.path, w.via])).toEqual([[join(root, 'st-01.key'), 'link']]);
    expectSaidAfterDurable(made, root);
  });

  it('flashtrail keys rotate: the old key archived (linked, never replaced), then ledger.key, then ledger.json naming both', async () => {
    const data = join(root, 'rotate-data');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const oldKeyId = (JSON.parse(readFileSync(join(data, 'ledger.json'), 'utf8')) as { keyId: string }).keyId;
    const traced = await traceCli(['keys', 'rotate', '--data', data]);
    expect(traced.result.code, traced.result.stderr).toBe(0);
    expect(durableWrites(traced.calls, data).map((w) => [w.path, w.via])).toEqual([
      [join(data, `ledger.key.${oldKeyId}`), 'link'],
      [join(data, 'ledger.key'), 'rename'],
      [join(data, 'ledger.json'), 'rename'],
    ]);
    expectSaidAfterDurable(traced, data);
  });

  it('flashtrail keys backup', async () => {
    const data = join(root, 'backup-data');
    expect((await traceCli(['init', '--data', data])).result.code).toBe(0);
    const to = join(root, 'offline', 'flashtrail');
    const traced = await traceCli(['keys', 'backup', '--data', data, '--to', to]);
    expect(traced.result.code, traced.result.stderr).toBe(0);
    expect(durableDirectories(traced.calls, join(root, 'offline'))).toEqual([join(root, 'offline'), to]);
    expect(durableWrites(traced.calls, to).map((w) => w.path).sort()).toEqual(['admin-keys.json', 'admin.key', 'flashtrail-backup.json', 'ledger-ml-dsa.key', 'ledger.json', 'ledger.key', 'tokens.json', 'unit-map.key'].map((f) => join(to, f)));
    expect(durableWrites(traced.calls, data).map((w) => w.path)).toEqual([join(data, 'backups.json')]);
    expectSaidAfterDurable(traced, data);
  });

  describe('flashtrail export', () => {
    let t: TestLedger;
    beforeAll(async () => {
      t = await startTestLedger();
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
      for (const serial of ['E-1', 'E-2', 'E-3']) await station.flash(serial, 'pass');
    });
    afterAll(async () => t.stop());

    it('the NDJSON export, its CSV and the offline verifier page beside them', async () => {
      const out = join(root, 'exports');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(out);
      const traced = await traceCli(['export', '--out', join(out, 'batch.ndjson'), '--batch', 'B-1', '--url', t.url, '--token-file', join(t.dataDir, 'admin.token')]);
      expect(traced.result.code, traced.result.stderr).toBe(0);
      expect(durableWrites(traced.calls, out).map((w) => w.path).sort()).toEqual([join(out, 'batch.csv'), join(out, 'batch.ndjson'), join(out, 'verify.html')]);
      expectSaidAfterDurable(traced, out);
      expect(readFileSync(join(out, 'batch.ndjson'), 'utf8').split('\n').filter((l) => l.includes('"record":"unit"'))).toHaveLength(3);
    });
  });
});
