/**
 * An ESP32-S3 line (host-based Secure Boot v2 + flash encryption, the shipped recipe) as a test engineer
 * runs it: `flashtrail station run` as a real process, the scanner and the device's serial port as socat
 * pseudo-terminals, the scripted device printing ESP-IDF's boot log, and stand-in esptool/espefuse that open
 * the port with pyserial exclusive=True, so every step here fails if the agent holds the port while a tool
 * runs. The scenarios: a unit through the recipe to an export; fail → rework → pass → ship (from a packing
 * station made by `station enroll`); fail → fail → scrap (eFuses that read back unburned); a device that
 * runs another build (wrong ELF hash); a port another program holds.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import {
  approveRecipeRelease,
  buildFirmware,
  ptyPair,
  scan,
  startDevice,
  startStation,
  station,
  stationConfig,
  stationTestsUnavailable,
  SYSTEM_PYTHON,
  type Manifest,
  type PtyPair,
  type ScriptedDevice,
  type StationProcess,
} from './helpers/station-line.ts';

const skip = stationTestsUnavailable();
if (skip) console.warn(`station tests skipped: ${skip}`);

let dir: string;
let t: TestLedger;
let scanner: PtyPair;
let device: ScriptedDevice;
let fw: string;
let manifest: Manifest;
let configFile: string;
let agent: StationProcess;
let template: string;
const spool = () => join(dir, 'labels.txt');
const mark = () => agent.lines.length;

type HistoryEntry = { digest: string; event: { id: string; type: string; schemaVersion: number; data: Record<string, unknown> } };
const auditor = () => new LedgerClient(t.url, t.tokens.auditor);
const history = async (serial: string) => (await auditor().get<{ events: HistoryEntry[] }>(`/v1/units/${serial}/events`)).events;
const types = async (serial: string) => (await history(serial)).map((e) => (e.event.type === 'StepStarted' ? `start:${String(e.event.data['step'])}` : 'step' in e.event.data ? `${e.event.type}:${String(e.event.data['step'])}` : e.event.type));
const unitView = (serial: string) => auditor().get<{ status: string; attempt: number; mac: string | null; chipId: string | null; security: { fields: { name: string; value: unknown }[] } | null; toolOutputs: number }>(`/v1/units/${serial}`);
async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const delivered = () => until(async () => /0 pending/.test((await station(['status', '--config', configFile])).stdout), 'the outbox to drain');

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-s3-line-'));
  t = await startTestLedger({ dataDir: join(dir, 'ledger') });
  fw = join(dir, 'fw');
  manifest = buildFirmware(fw, 'esp32s3');
  template = join(dir, 'nvs.csv');
  writeFileSync(template, 'key,type,encoding,value\nfactory,namespace,,\nserial,data,string,{serial}\nmac,data,string,{mac}\n');
  await approveRecipeRelease(t, { fwDir: fw, manifest, releaseId: 'SENSOR-S3-3.0.0', sku: 'SENSOR-S3', batchId: 'B-S3', template });
  scanner = await ptyPair(dir, 'scanner');
  device = await startDevice(dir, 'esp32s3');
  writeSecretKeyFile(join(dir, 'st-01.key'), t.stationKeys['ST-01']);
  writeFileSync(join(dir, 'st-01.token'), t.tokens.station1, { mode: 0o600 });
  configFile = stationConfig({
    dir,
    stationId: 'ST-01',
    recipe: 'esp32s3-sbv2-fe-host',
    ledgerUrl: t.url,
    tokenFile: join(dir, 'st-01.token'),
    keyFile: join(dir, 'st-01.key'),
    batchId: 'B-S3',
    scanner: scanner.station,
    device: device.port.station,
    fwDir: fw,
    manifest,
    template: { id: 'tpl-SENSOR-S3', file: template },
    extra: { afterPass: { command: ['print-label', '{serial}', '{mac}', '{release}'], timeoutMs: 5000 } },
  });
  agent = await startStation(configFile, { LABEL_SPOOL: spool() });
  scan(scanner, 'FT:LOGIN:op-kim');
  await agent.waitFor(/operator op-kim logged in/);
}, 120_000);

afterAll(async () => {
  if (skip) return;
  await agent?.kill('SIGTERM');
  scanner?.close();
  device?.stop();
  await t?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const FIRST_PASS = [
  'UnitScanned',
  'IdentityRead:read-mac',
  'IdentityRead:read-unique-id',
  'start:burn-flash-encryption',
  'EfuseBurned:burn-flash-encryption',
  'start:burn-secure-boot',
  'EfuseBurned:burn-secure-boot',
  'SecurityStateRead:read-back-efuses',
  'ImagesWritten:write-images',
  'ImagesVerified:read-back-images',
  'ProvisioningApplied:write-nvs',
  'ImagesVerified:boot-log',
  'start:enable-secure-download',
  'UnitLocked:enable-secure-download',
  'SecurityStateRead:confirm-security-info',
];

describe.skipIf(skip !== null)('an ESP32-S3 line (Secure Boot v2 + flash encryption, host-based)', () => {
  it('takes a unit through the recipe in Espressif’s order, with what the device reported in each signed event', async () => {
    device.newBoard({ mac: 'f4:12:fa:43:5b:20', uniqueId: '0e3c55490a1b2c3d4e5f6071829300a1' });
    // The application pauses after its ELF hash, longer than the port's settle time: the flash-encryption mode line
    // that follows must still be in the evidence.
    device.faults({ pause_after_elf_ms: 600 });
    scan(scanner, 'S3-1');
    expect(await agent.outcome('S3-1', mark())).toMatch(/boot-log ELF [0-9a-f]{9}… \(9 chars\).*enable-secure-download LOCKED.*PASS$/);
    await delivered();
    expect(await types('S3-1')).toEqual(FIRST_PASS);
    const events = await history('S3-1');
    const find = (type: string, step: string) => events.find((e) => e.event.type === type && e.event.data['step'] === step)?.event.data as Record<string, unknown>;

    // Identity as the chip reported it: esptool's MAC, espefuse's OPTIONAL_UNIQUE_ID.
    expect(find('IdentityRead', 'read-mac')).toMatchObject({ mac: 'f4:12:fa:43:5b:20', chipType: 'ESP32-S3 (QFN56) (revision v0.2)', chipId: null });
    expect(find('IdentityRead', 'read-unique-id')).toMatchObject({ chipId: '0e3c55490a1b2c3d4e5f6071829300a1' });
    // The eFuses read back from the chip, not restated from a configuration.
    const efuses = find('SecurityStateRead', 'read-back-efuses');
    expect(efuses['result']).toBe('pass');
    expect(efuses['fields']).toEqual(expect.arrayContaining([{ name: 'SECURE_BOOT_EN', value: true }, { name: 'BLOCK_KEY0.readable', value: false }, { name: 'BLOCK_KEY1', value: manifest.secureBootKeyDigest }]));
    // The images read back and hashed by the station; the ELF hash prefix the application printed.
    const readBack = find('ImagesVerified', 'read-back-images') as { images: { name: string; reported: string; expected: string; comparedChars: number }[] };
    expect(readBack.images.map((i) => i.comparedChars)).toEqual([64, 64, 64]);
    expect(readBack.images.every((i) => i.reported === i.expected)).toBe(true);
    const boot = find('ImagesVerified', 'boot-log') as { images: { reported: string; expected: string; comparedChars: number }[]; bootLog: Record<string, unknown> };
    const elf = createHash('sha256').update(readFileSync(join(fw, 'app.elf'))).digest('hex');
    expect(boot.images[0]).toEqual({ name: 'app', expected: elf, reported: elf.slice(0, 9), comparedChars: 9, result: 'pass' });
    expect(boot.bootLog).toMatchObject({ idfVersion: 'v5.4.1', appVersion: '3.0.0', projectName: 'sensor' });
    expect(String(boot.bootLog['secureBoot'])).toMatch(/Signature verified successfully!/);
    expect(String(boot.bootLog['flashEncryption'])).toMatch(/Flash encryption mode is RELEASE/);
    device.faults({});
    // After the lock: Secure Download Mode, read with get-security-info.
    expect(find('SecurityStateRead', 'confirm-security-info')['checks']).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'SECURE_DOWNLOAD_ENABLE', actual: true, met: true })]));
    expect(device.state().efuse['ENABLE_SECURITY_DOWNLOAD']).toBe(1);

    // Every tool output is kept at the station under its SHA-256; the digests in the events name them.
    const evidence = join(dir, 'ST-01-data', 'evidence');
    const tools = events.flatMap((e) => (e.event.data['tools'] as { stdoutSha256: string; stderrSha256: string; program: string; version?: string }[] | undefined) ?? []);
    expect(tools.length).toBeGreaterThanOrEqual(14);
    for (const tool of tools) {
      for (const digest of [tool.stdoutSha256, tool.stderrSha256]) expect(createHash('sha256').update(readFileSync(join(evidence, digest))).digest('hex')).toBe(digest);
    }
    expect(readFileSync(join(evidence, tools[0]?.stdoutSha256 as string), 'utf8')).toMatch(/^esptool v5\.1\.0\nSerial port /);
    expect(tools.filter((x) => x.program === 'espefuse').every((x) => x.version === 'espefuse v5.1.0')).toBe(true);
    expect(readFileSync(join(evidence, boot.bootLog['sha256'] as string), 'utf8')).toMatch(/ELF file SHA256: {2}[0-9a-f]{9}\.\.\./);
    // Colours off although the station's TERM names a terminal.
    for (const tool of tools) expect(readFileSync(join(evidence, tool.stdoutSha256), 'utf8')).not.toContain('\u001b[');

    expect(await unitView('S3-1')).toMatchObject({ status: 'locked', mac: 'f4:12:fa:43:5b:20', chipId: '0e3c55490a1b2c3d4e5f6071829300a1' });
    await until(() => existsSync(spool()) && readFileSync(spool(), 'utf8').includes('S3-1'), 'the label');
    expect(readFileSync(spool(), 'utf8')).toContain('S3-1 f4:12:fa:43:5b:20 SENSOR-S3-3.0.0');
    expect((await verifiedHistory(auditor(), 'S3-1')).events).toBe(FIRST_PASS.length);

    // The export record shows what the device reported, and the events carry the security state and the digests.
    const response = await fetch(`${t.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ serials: ['S3-1'] }) });
    const records = (await response.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const unit = records.find((r) => r['record'] === 'unit') as { chipId: string; mac: string; events: { envelope: { payload: string } }[] };
    expect(unit).toMatchObject({ chipId: '0e3c55490a1b2c3d4e5f6071829300a1', mac: 'f4:12:fa:43:5b:20' });
    const payloads = unit.events.map((e) => JSON.parse(Buffer.from(e.envelope.payload, 'base64').toString()) as { type: string; data: Record<string, unknown> });
    expect(payloads.filter((p) => p.type === 'SecurityStateRead').map((p) => p.data['result'])).toEqual(['pass', 'pass']);
    expect(payloads.flatMap((p) => (p.data['tools'] as { stdoutSha256: string }[] | undefined) ?? []).map((x) => x.stdoutSha256)).toEqual(tools.map((x) => x.stdoutSha256));
  }, 120_000);

  it('fail → rework → pass → ship: a write that esptool’s own check refuses sends the unit to rework; the next pass skips the burned steps; a packing station ships it', async () => {
    device.newBoard({ mac: 'f4:12:fa:43:5b:21', uniqueId: '0e3c55490a1b2c3d4e5f6071829300a2' });
    device.faults({ flash_corrupt: 0x10000 + 0x100 });
    let at = mark();
    scan(scanner, 'S3-2');
    // A flash cell that does not hold what is written: esptool's MD5 check after writing catches it.
    expect(await agent.outcome('S3-2', at)).toMatch(/write-images TOOL_FAILED · write-images TOOL_FAILED {2}→ REWORK: write-images TOOL_FAILED: esptool exited 2: MD5 of file does not match data in flash!$/);
    // Scanning it again is refused until rework is recorded.
    at = mark();
    scan(scanner, 'S3-2');
    expect(await agent.outcome('S3-2', at)).toMatch(/S3-2 {2}not started: pass 1 of this unit failed here; rework it first/);

    device.faults({});
    at = mark();
    scan(scanner, 'FT:REWORK:S3-2:reseated the flash clip');
    await agent.waitFor(/S3-2: UnitReworked recorded by the ledger/, at);
    at = mark();
    scan(scanner, 'S3-2');
    expect(await agent.outcome('S3-2', at)).toMatch(/^\S+ S3-2 {2}scanned · read-mac .*read-back-efuses as expected.*PASS$/);
    await delivered();
    const second = (await types('S3-2')).slice((await types('S3-2')).indexOf('UnitReworked') + 1);
    expect(second).toEqual(['UnitScanned', 'IdentityRead:read-mac', 'IdentityRead:read-unique-id', ...FIRST_PASS.slice(7)]);
    expect(await unitView('S3-2')).toMatchObject({ status: 'locked', attempt: 2 });

    // A packing station, enrolled in one step, ships it; it may do nothing else.
    const pack = join(dir, 'pack');
    const enrolled = await station(['enroll', '--id', 'PK-01', '--line', 'L1', '--batch', 'B-S3', '--role', 'pack', '--dir', pack, '--scanner', scanner.station, '--url', t.url, '--data', t.dataDir]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toMatch(/registered station PK-01 \(pack, line L1\)/);
    const packConfig = join(pack, 'station.json');
    await new Promise((r) => setTimeout(r, 1100)); // the ledger reads its token file again at most once a second
    const shipped = await station(['ship', '--config', packConfig, '--serial', 'S3-2', '--customer', 'ACME Robotics', '--order', 'PO-4711', '--operator', 'op-pack']);
    expect(shipped.stdout, shipped.stderr).toMatch(/S3-2: UnitShipped recorded by the ledger/);
    expect(await unitView('S3-2')).toMatchObject({ status: 'shipped' });
    const scrapByPacker = await station(['scrap', '--config', packConfig, '--serial', 'S3-1', '--reason', 'not mine', '--operator', 'op-pack']);
    expect(scrapByPacker.code).toBe(1);
    expect(scrapByPacker.stdout).toMatch(/REFUSED UnitScrapped: 409 RULE_VIOLATION ROLE_NOT_ALLOWED/);
  }, 240_000);

  it('fail → fail → scrap: eFuses that read back unburned after a "successful" burn stop the unit before anything is flashed or locked', async () => {
    device.newBoard({ mac: 'f4:12:fa:43:5b:22', uniqueId: '0e3c55490a1b2c3d4e5f6071829300a3' });
    device.faults({ efuse_burn_ignored: true });
    let at = mark();
    scan(scanner, 'S3-3');
    expect(await agent.outcome('S3-3', at)).toMatch(/burn-secure-boot burned .*read-back-efuses SECURITY_STATE_MISMATCH · read-back-efuses SECURITY_STATE_MISMATCH {2}→ REWORK: read-back-efuses SECURITY_STATE_MISMATCH: the device reports SPI_BOOT_CRYPT_CNT="Disable"/);
    at = mark();
    scan(scanner, 'FT:REWORK:S3-3');
    await agent.waitFor(/S3-3: UnitReworked recorded by the ledger/, at);
    at = mark();
    scan(scanner, 'S3-3');
    expect(await agent.outcome('S3-3', at)).toMatch(/^\S+ S3-3 {2}scanned · .*→ REWORK: read-back-efuses SECURITY_STATE_MISMATCH/);
    at = mark();
    scan(scanner, 'FT:SCRAP:S3-3:eFuses do not program');
    await agent.waitFor(/S3-3: UnitScrapped recorded by the ledger/, at);
    await delivered();
    const seen = await types('S3-3');
    expect(seen.filter((x) => x === 'SecurityStateRead:read-back-efuses')).toHaveLength(4);
    expect(seen).not.toContain('ImagesWritten:write-images');
    expect(seen).not.toContain('start:enable-secure-download');
    expect(seen[seen.length - 1]).toBe('UnitScrapped');
    expect(device.state().efuse['ENABLE_SECURITY_DOWNLOAD']).toBeUndefined();
    expect(Object.keys(device.state().flash)).toEqual([]);
    expect(await unitView('S3-3')).toMatchObject({ status: 'scrapped', attempt: 2 });
  }, 240_000);

  it('a device that runs another build: the boot log’s ELF hash does not match the release, and the unit is not locked', async () => {
    device.newBoard({ mac: 'f4:12:fa:43:5b:23', uniqueId: '0e3c55490a1b2c3d4e5f6071829300a4' });
    const other = createHash('sha256').update('another build').digest('hex');
    device.faults({ elf_sha256: other });
    const at = mark();
    scan(scanner, 'S3-4');
    expect(await agent.outcome('S3-4', at)).toMatch(/boot-log ELF_HASH_MISMATCH · boot-log ELF_HASH_MISMATCH {2}→ REWORK: boot-log ELF_HASH_MISMATCH: the device reports app [0-9a-f]{9}…/);
    device.faults({});
    await delivered();
    const boot = (await history('S3-4')).filter((e) => e.event.type === 'ImagesVerified' && e.event.data['step'] === 'boot-log');
    expect(boot.map((e) => e.event.data['images'])).toEqual([[expect.objectContaining({ reported: other.slice(0, 9), comparedChars: 9, result: 'fail' })], [expect.objectContaining({ reported: other.slice(0, 9), result: 'fail' })]]);
    expect(device.state().efuse['ENABLE_SECURITY_DOWNLOAD']).toBeUndefined();
    expect(await unitView('S3-4')).toMatchObject({ status: 'in_progress' });
  }, 120_000);

  it('a port another program holds: esptool’s own "port is busy" is the recorded failure', async () => {
    device.newBoard({ mac: 'f4:12:fa:43:5b:24' });
    const holder = spawn(SYSTEM_PYTHON, ['-c', `import serial,time\ns=serial.Serial(${JSON.stringify(device.port.station)},115200,exclusive=True)\nprint('held',flush=True)\ntime.sleep(60)`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    try {
      const at = mark();
      scan(scanner, 'S3-5');
      // The agent cannot open the port either (node-serialport locks it too); the tool's failure is what counts.
      expect(await agent.outcome('S3-5', at)).toMatch(/read-mac TOOL_FAILED · read-mac TOOL_FAILED {2}→ REWORK: read-mac TOOL_FAILED: esptool exited 2: Could not open .*, the port is busy or doesn't exist\. \(\[Errno 11\] Could not exclusively lock port/);
    } finally {
      holder.kill();
    }
    await delivered();
    const failed = (await history('S3-5')).find((e) => e.event.type === 'StepFailed');
    expect(failed?.event.data).toMatchObject({ step: 'read-mac', errorCode: 'TOOL_FAILED', attempt: 1, try: 1 });
    expect(String(failed?.event.data['message'])).toMatch(/the port is busy/);
  }, 120_000);
});
