/**
 * The station's safety properties, as regressions, each with a real `flashtrail station run` process
 * against a real ledger and the scripted ESP32-S3 (the recipe's first irreversible step, burning the flash
 * encryption key, comes right after the identity reads):
 *
 *  - no eFuse is burned on a unit the ledger refused (a closed batch) or never saw (an auditor's token, the
 *    ledger unreachable under the default policy): the gate needs the ledger to accept the step first;
 *  - a wrong token leaves the events pending, not rejected, and they are delivered once the token is fixed;
 *  - a configuration that would fail mid-unit is refused at start, in one line naming the member;
 *  - through a ledger outage (with the offline policy `local`) and a SIGKILL between signing and sending,
 *    every event arrives exactly once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { runCli } from './helpers/cli.ts';
import { approveRecipeRelease, buildFirmware, lineEnv, ptyPair, scan, startDevice, startStation, station, stationConfig, stationTestsUnavailable, type Manifest, type PtyPair, type ScriptedDevice } from './helpers/station-line.ts';

const skip = stationTestsUnavailable();
if (skip) console.warn(`station safety tests skipped: ${skip}`);

let dir: string;
let ledgerDir: string;
let t: TestLedger;
let port: number;
let scanner: PtyPair;
let device: ScriptedDevice;
let fw: string;
let manifest: Manifest;
let template: string;
/** The registered station keys (a restarted test ledger makes new ones it never registers). */
let keys: TestLedger['stationKeys'];

const auditor = () => new LedgerClient(t.url, t.tokens.auditor);
const eventsOf = async (serial: string) => {
  try {
    return (await auditor().get<{ events: { event: { id: string; type: string } }[] }>(`/v1/units/${serial}/events`)).events;
  } catch {
    return [];
  }
};
const burned = () => Object.keys(device.state().keys ?? {}).length > 0 || Object.keys(device.state().efuse ?? {}).length > 0;
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function config(o: { stationId?: 'ST-01' | 'ST-02'; batchId: string; tokenFile?: string; extra?: Record<string, unknown> }) {
  const id = o.stationId ?? 'ST-01';
  const key = join(dir, `${id}-${Math.random().toString(36).slice(2, 6)}.key`);
  writeSecretKeyFile(key, keys[id]);
  const tokenFile = o.tokenFile ?? join(dir, `${id}.token`);
  // Each configuration its own outbox: what one test leaves there is not another's.
  const extra = { dataDir: join(dir, `data-${Math.random().toString(36).slice(2, 8)}`), ...o.extra };
  return stationConfig({ dir, stationId: id, recipe: 'esp32s3-sbv2-fe-host', ledgerUrl: t.url, tokenFile, keyFile: key, batchId: o.batchId, scanner: scanner.station, device: device.port.station, fwDir: fw, manifest, template: { id: 'tpl-SENSOR-S3', file: template }, extra });
}

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-station-safety-'));
  ledgerDir = join(dir, 'ledger');
  t = await startTestLedger({ dataDir: ledgerDir });
  keys = t.stationKeys;
  port = Number(new URL(t.url).port);
  fw = join(dir, 'fw');
  manifest = buildFirmware(fw, 'esp32s3');
  template = join(dir, 'nvs.csv');
  writeFileSync(template, 'key,type,encoding,value\nserial,data,string,{serial}\n');
  await approveRecipeRelease(t, { fwDir: fw, manifest, releaseId: 'SENSOR-S3-3.0.0', sku: 'SENSOR-S3', batchId: 'B-S3', template });
  await t.adminClient.appendAdmin([t.admin.sign('BatchOpened', { batchId: 'B-CLOSING', releaseId: 'SENSOR-S3-3.0.0', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10 }).envelope]);
  writeFileSync(join(dir, 'ST-01.token'), t.tokens.station1, { mode: 0o600 });
  writeFileSync(join(dir, 'ST-02.token'), t.tokens.station2, { mode: 0o600 });
  scanner = await ptyPair(dir, 'scanner');
  device = await startDevice(dir, 'esp32s3');
}, 120_000);

afterAll(async () => {
  if (skip) return;
  scanner?.close();
  device?.stop();
  await t?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('station safety', () => {
  it('refuses to start on a configuration that would fail mid-unit, in one line naming the member', async () => {
    const run = (file: string) => runCli(['station', 'run', '--config', file], { env: lineEnv(), timeoutMs: 30_000 });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ bootLog: { pattern: '(' } }, /bootLog\.pattern: not a regular expression/],
      [{ bootLog: { pattern: 'ELF file SHA256' } }, /bootLog\.pattern: it must capture exactly one group/],
      [{ ledger: { url: 'ledger:8080', tokenFile: join(dir, 'ST-01.token') } }, /ledger\.url: an http:\/\/ or https:\/\/ URL with a host/],
      [{ ledger: { url: 'javascript:alert(1)', tokenFile: join(dir, 'ST-01.token') } }, /ledger\.url: an http:\/\/ or https:\/\/ URL/],
      [{ ports: { scanner: { path: join(dir, 'no-such-scanner') }, console: { path: device.port.station } } }, /ports\.scanner\.path: .*no-such-scanner: no such file or directory/],
      [{ images: { bootloader: join(fw, 'bootloader-signed-enc.bin'), 'partition-table': join(fw, 'partition-table-enc.bin'), app: join(fw, 'bootloader-signed-enc.bin') } }, /images\.app: .* has SHA-256 [0-9a-f]{16}…, release SENSOR-S3-3\.0\.0 says/],
      [{ templates: { 'tpl-SENSOR-S3': join(fw, 'manifest.json') } }, /templates\.tpl-SENSOR-S3: .* the recipe says/],
      [{ operator: 'x'.repeat(201) }, /operator: Too big|operator: .*200/],
      [{ fixture: 'jig 7' }, /fixture: letters, digits/],
    ];
    for (const [extra, message] of cases) {
      const result = await run(config({ batchId: 'B-S3', extra }));
      expect(result.code, `${JSON.stringify(extra)}: ${result.stdout}${result.stderr}`).toBe(1);
      expect(result.stderr.trim().split('\n'), JSON.stringify(extra)).toHaveLength(1);
      expect(result.stderr, JSON.stringify(extra)).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    // A step the station has no tools for, and a tool that is not installed.
    const steps = { ...(await import('../station/templates.ts')).STATION_TOOLS['esp32s3-sbv2-fe-host'] };
    delete steps['boot-log'];
    steps['read-mac'] = { run: [{ command: ['esptool-not-installed', 'chip-id'], timeoutMs: 1000 }] };
    const missing = await run(config({ batchId: 'B-S3', extra: { steps } }));
    expect(missing.stderr).toMatch(/steps\.boot-log: missing: recipe esp32s3-sbv2-fe-host has a verify step boot-log/);
    expect(missing.stderr).toMatch(/steps\.read-mac\.run\.0\.command\.0: esptool-not-installed is not installed/);
    expect(burned()).toBe(false);
  }, 120_000);

  it('a closed batch: the ledger refuses the scan, so the eFuse gate refuses the burn; nothing is burned', async () => {
    device.newBoard({ mac: 'f4:12:fa:00:01:01' });
    const agent = await startStation(config({ batchId: 'B-CLOSING', extra: { operator: 'op-kim' } }));
    try {
      await t.adminClient.appendAdmin([t.admin.sign('BatchClosed', { batchId: 'B-CLOSING', reason: 'order complete' }).envelope]);
      const at = agent.lines.length;
      scan(scanner, 'SAFE-1');
      expect(await agent.outcome('SAFE-1', at)).toMatch(/burn-flash-encryption EFUSE_GATE_REFUSED {2}→ REWORK: burn-flash-encryption EFUSE_GATE_REFUSED: the ledger refused (burn-flash-encryption: .*CHAIN_MISMATCH|\d+ event\(s\) of this unit)/);
      expect(agent.lines.join('\n')).toMatch(/LEDGER REFUSED UnitScanned of unit-SAFE-1 .*: 409 RULE_VIOLATION BATCH_NOT_OPEN/);
      // Reported once each, not twice (the gate and the background sender do not send at the same time).
      expect(agent.lines.filter((l) => /LEDGER REFUSED UnitScanned of unit-SAFE-1/.test(l))).toHaveLength(1);
      expect(burned()).toBe(false);
      expect(await eventsOf('SAFE-1')).toEqual([]);
    } finally {
      await agent.kill('SIGTERM');
    }
  }, 120_000);

  it("an auditor's token: events stay pending (not rejected), nothing is burned; fixed, they are delivered", async () => {
    device.newBoard({ mac: 'f4:12:fa:00:01:02' });
    const tokenFile = join(dir, 'wrong.token');
    writeFileSync(tokenFile, t.tokens.auditor, { mode: 0o600 });
    const file = config({ stationId: 'ST-02', batchId: 'B-S3', tokenFile, extra: { operator: 'op-kim' } });
    const agent = await startStation(file);
    try {
      const at = agent.lines.length;
      scan(scanner, 'SAFE-2');
      expect(await agent.outcome('SAFE-2', at)).toMatch(/burn-flash-encryption EFUSE_GATE_REFUSED {2}→ REWORK: .*the ledger did not confirm burn-flash-encryption \(unauthorized: 403 FORBIDDEN/);
      expect(agent.lines.join('\n')).toMatch(/the ledger refuses this station's token \(403 FORBIDDEN/);
      expect(burned()).toBe(false);
      const status = await station(['status', '--config', file]);
      expect(status.stdout).toMatch(/station ST-02: \d+ pending, 0 delivered, 0 rejected/);
      expect(status.code).toBe(0);

      // The operator fixes the token file; the agent reads it again and delivers what was signed.
      writeFileSync(tokenFile, t.tokens.station2, { mode: 0o600 });
      await until(async () => /0 pending, \d+ delivered, 0 rejected/.test((await station(['status', '--config', file])).stdout), 'delivery with the fixed token');
      const events = (await eventsOf('SAFE-2')).map((e) => e.event.type);
      expect(events.slice(0, 4)).toEqual(['UnitScanned', 'IdentityRead', 'IdentityRead', 'StepStarted']);
      expect(events[events.length - 1]).toBe('StepFailed');
      expect(burned()).toBe(false);
    } finally {
      await agent.kill('SIGTERM');
    }
  }, 120_000);

  it('the ledger unreachable, default policy: the gate refuses to burn; the events wait in the outbox', async () => {
    device.newBoard({ mac: 'f4:12:fa:00:01:03' });
    const file = config({ batchId: 'B-S3', extra: { operator: 'op-kim', gate: { offline: 'refuse', timeoutMs: 3000 } } });
    const agent = await startStation(file);
    try {
      await t.stop();
      const at = agent.lines.length;
      scan(scanner, 'SAFE-3');
      expect(await agent.outcome('SAFE-3', at)).toMatch(/burn-flash-encryption EFUSE_GATE_REFUSED {2}→ REWORK: .*gate\.offline is "refuse"/);
      expect(burned()).toBe(false);
    } finally {
      await agent.kill('SIGTERM');
      t = await startTestLedger({ dataDir: ledgerDir, port, setup: false });
    }
  }, 120_000);

  it('keeps working through a ledger outage (gate.offline: local) and a SIGKILL between signing and sending; every event arrives exactly once', async () => {
    const file = config({ batchId: 'B-S3', extra: { operator: 'op-kim', gate: { offline: 'local', timeoutMs: 3000 } } });
    const status = async () => (await station(['status', '--config', file])).stdout;
    let agent = await startStation(file);
    const serials = ['OUT-1', 'OUT-2', 'OUT-3', 'OUT-4'];
    const run = async (serial: string, n: number) => {
      device.newBoard({ mac: `f4:12:fa:00:02:0${n}` });
      const at = agent.lines.length;
      scan(scanner, serial);
      expect(await agent.outcome(serial, at)).toMatch(/PASS$/);
    };
    try {
      await run('OUT-1', 1);
      await until(async () => /0 pending/.test(await status()), 'OUT-1 to be delivered');

      await t.stop(); // the ledger goes away in the middle of the batch
      await run('OUT-2', 2);
      expect(agent.lines.join('\n')).toMatch(/ledger unreachable: events are kept in the outbox/);
      expect(agent.lines.join('\n')).toMatch(/WARNING OUT-2: the ledger is unreachable; burn-flash-encryption runs on this station's own evidence \(gate\.offline = local\)/);
      await run('OUT-3', 3);
      expect(await status()).toMatch(/30 pending/);

      await agent.kill('SIGKILL'); // signed, committed to the outbox, never sent
      t = await startTestLedger({ dataDir: ledgerDir, port, setup: false });
      agent = await startStation(file);
      await agent.waitFor(/30 event\(s\) from an earlier run are pending/);
      await until(async () => /0 pending, \d+ delivered, 0 rejected/.test(await status()), 'the outbox to drain after the restart');
      await run('OUT-4', 4);
      await until(async () => /0 pending/.test(await status()), 'OUT-4 to be delivered');
      for (const serial of serials) {
        const events = await eventsOf(serial);
        expect(events, serial).toHaveLength(15);
        expect(new Set(events.map((e) => e.event.id)).size).toBe(15);
        expect((await verifiedHistory(auditor(), serial)).events).toBe(15);
      }
    } finally {
      await agent.kill('SIGTERM');
    }
  }, 240_000);
});
