/**
 * The station agent as a real process, with real serial I/O over pseudo-terminals (socat), a scripted
 * device printing its boot log, and stand-in flash tools that succeed, fail or hang. The ledger is stopped
 * mid-batch and the station killed between signing and sending: every event still arrives exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { ptyPair, socatAvailable, type PtyPair } from './helpers/pty.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { verifiedHistory } from './helpers/provenance.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const FIXTURES = join(ROOT, 'test', 'station');
const skip = socatAvailable() ? null : 'socat is not installed (apt-get install socat)';
if (skip) console.warn(`station tests skipped: ${skip}`);

let dir: string;
let ledgerDir: string;
let t: TestLedger;
let port: number;
let scanner: PtyPair;
let deviceConsole: PtyPair;
let configFile: string;

interface StationProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

function startStation(env: Record<string, string> = {}): Promise<StationProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'station', 'run', '--config', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const station: StationProcess = {
    child,
    lines,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => pattern.test(l));
        if (seen) return resolve(seen);
        const timer = setTimeout(() => reject(new Error(`station never printed ${pattern}; it printed:\n${lines.join('\n')}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      }),
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
  return station.waitFor(/ready: batch/).then(() => station);
}

const scan = (serial: string) => writeFileSync(scanner.device, `${serial}\r\n`);
const auditor = () => new LedgerClient(`http://127.0.0.1:${port}`, t.tokens.auditor);
async function history(serial: string) {
  return (await auditor().get<{ events: { event: { id: string; type: string } }[] }>(`/v1/units/${serial}/events`)).events;
}
const status = () => new Promise<string>((resolve) => {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'station', 'status', '--config', configFile]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.once('close', () => resolve(out));
});
async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-station-'));
  ledgerDir = join(dir, 'ledger');
  t = await startTestLedger({ dataDir: ledgerDir });
  port = Number(new URL(t.url).port);
  scanner = await ptyPair(dir, 'scanner');
  deviceConsole = await ptyPair(dir, 'console');
  writeSecretKeyFile(join(dir, 'station.key'), t.stationKeys['ST-01']);
  writeFileSync(join(dir, 'station.token'), t.tokens.station1, { mode: 0o600 });
  // Images whose hashes are those of the release the fixture approved.
  writeFileSync(join(dir, 'bootloader.bin'), 'bootloader 2.4.1');
  writeFileSync(join(dir, 'app.bin'), 'application 2.4.1');
  writeFileSync(join(dir, 'provisioning.tpl'), 'serial={serial}\nwifi=factory\n');
  const tool = (step: string, timeoutMs = 5000) => ({ command: [join(FIXTURES, 'tool.sh'), step, '{serial}'], timeoutMs });
  configFile = join(dir, 'station.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      stationId: 'ST-01',
      operator: 'op-kim',
      keyFile: 'station.key',
      dataDir: 'station-data',
      ledger: { url: t.url, tokenFile: 'station.token' },
      batchId: t.batchId,
      productSku: 'SENSOR-S3',
      hardwareRevision: 'rev-C',
      ports: { scanner: { path: scanner.station, baudRate: 115200 }, console: { path: deviceConsole.station, baudRate: 115200 } },
      images: { bootloader: { path: 'bootloader.bin', version: 'bl-2.4.1' }, application: { path: 'app.bin', version: '2.4.1' } },
      secureBoot: { signingKeyRef: 'SENSOR-S3-sb-key', signingKeyDigest: t.release.signingKeyDigest },
      provisioning: { templateId: 'prov-SENSOR-S3', templatePath: 'provisioning.tpl' },
      efuse: { profile: t.release.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], flashEncryption: true },
      verification: { timeoutMs: 3000 },
      steps: {
        bootloader: tool('bootloader'),
        application: { command: [join(FIXTURES, 'flash-app.sh'), '{image}', deviceConsole.device, '{serial}'], timeoutMs: 5000 },
        provisioning: tool('provisioning'),
        efuse: tool('efuse', 1500),
      },
    }),
  );
}, 60_000);

afterAll(async () => {
  if (skip) return;
  scanner.close();
  deviceConsole.close();
  await t.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('station agent', () => {
  it('refuses an invalid configuration with a clear message', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ stationId: 'ST 01', ledger: { url: 'not a url' } }));
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'station', 'run', '--config', bad]);
      let text = '';
      child.stderr.on('data', (d: Buffer) => (text += d.toString()));
      child.once('close', (code) => resolve({ code, text }));
    });
    expect(out.code).toBe(1);
    expect(out.text).toMatch(/not a valid station configuration/);
    expect(out.text).toMatch(/stationId/);
    expect(out.text).toMatch(/ledger\.url/);
  });

  it('flashes units read from the scanner, verifies on the console, and stops a unit whose device reports another hash', async () => {
    const station = await startStation({ FAKE_DEVICE_CORRUPT: 'S-3', FAKE_HANG_efuse: 'S-4', FAKE_FAIL_provisioning: 'S-5' });
    try {
      scan('S-1');
      await station.waitFor(/^\S+ S-1 .*PASS$/);
      scan('S-2');
      scan('not a serial!');
      scan('S-3');
      scan('S-4');
      scan('S-5');
      await station.waitFor(/^\S+ S-2 .*PASS$/);
      await station.waitFor(/ignored scan "not a serial!"/);
      expect(await station.waitFor(/^\S+ S-3 /)).toMatch(/app verification FAILED .*→ REWORK: the device runs/);
      expect(await station.waitFor(/^\S+ S-4 /)).toMatch(/→ REWORK: efuse TOOL_TIMEOUT/);
      expect(await station.waitFor(/^\S+ S-5 /)).toMatch(/→ REWORK: provisioning TOOL_FAILED/);
      await waitUntil(async () => /0 pending/.test(await status()), 'the outbox to drain');

      for (const serial of ['S-1', 'S-2', 'S-3', 'S-4', 'S-5']) expect((await verifiedHistory(auditor(), serial)).events, serial).toBe((await history(serial)).length);
      expect((await history('S-1')).map((e) => e.event.type)).toEqual(['UnitScanned', 'BootloaderWritten', 'AppVerified', 'ProvisioningApplied', 'EfuseBurned']);
      const s3 = (await history('S-3')).map((e) => e.event.type);
      expect(s3).toEqual(['UnitScanned', 'BootloaderWritten', 'AppVerified']);
      expect(s3).not.toContain('EfuseBurned');
      expect((await auditor().get<{ status: string; failures: number }>('/v1/units/S-3'))).toMatchObject({ status: 'bootloader_written', failures: 1 });
      const s4 = await history('S-4');
      expect(s4.map((e) => e.event.type)).toEqual(['UnitScanned', 'BootloaderWritten', 'AppVerified', 'ProvisioningApplied', 'StepFailed']);
      expect(JSON.stringify(s4[4]?.event)).toMatch(/TOOL_TIMEOUT/);
      expect((await history('S-5')).map((e) => e.event.type)).toEqual(['UnitScanned', 'BootloaderWritten', 'AppVerified', 'StepFailed']);
      expect((await auditor().get<{ status: string; application: { verified: boolean } }>('/v1/units/S-1'))).toMatchObject({ status: 'locked', application: { verified: true } });
    } finally {
      await station.kill('SIGTERM');
    }
  });

  it('keeps working through a ledger outage and a station crash between signing and sending; every event arrives exactly once', async () => {
    let station = await startStation();
    try {
      scan('O-1');
      await station.waitFor(/^\S+ O-1 .*PASS$/);
      await waitUntil(async () => /0 pending/.test(await status()), 'O-1 to be delivered');

      await t.stop(); // the ledger goes away in the middle of the batch
      scan('O-2');
      await station.waitFor(/^\S+ O-2 .*PASS$/);
      await station.waitFor(/ledger unreachable/);
      scan('O-3');
      await station.waitFor(/^\S+ O-3 .*PASS$/);
      expect(await status()).toMatch(/10 pending/);

      await station.kill('SIGKILL'); // signed, committed to the outbox, never sent
      t = await startTestLedger({ dataDir: ledgerDir, port, setup: false });
      station = await startStation();
      await station.waitFor(/10 event\(s\) from an earlier run are pending/);
      await waitUntil(async () => /0 pending, \d+ delivered, 0 rejected/.test(await status()), 'the outbox to drain after the restart');
      scan('O-4');
      await station.waitFor(/^\S+ O-4 .*PASS$/);
      await waitUntil(async () => /0 pending/.test(await status()), 'O-4 to be delivered');

      for (const serial of ['O-1', 'O-2', 'O-3', 'O-4']) {
        const events = await history(serial);
        expect(events.map((e) => e.event.type), serial).toEqual(['UnitScanned', 'BootloaderWritten', 'AppVerified', 'ProvisioningApplied', 'EfuseBurned']);
        expect(new Set(events.map((e) => e.event.id)).size).toBe(5);
        expect((await verifiedHistory(auditor(), serial)).events).toBe(5);
      }
      expect(readFileSync(configFile, 'utf8')).toContain('station-data');
    } finally {
      await station.kill('SIGTERM');
    }
  }, 120_000);
});
