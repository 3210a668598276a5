/**
 * The two other shipped recipes, each on its own line with a real `flashtrail station run`:
 *
 *  - an ESP32 development line, set up with `flashtrail station enroll` (key, token, registration and a
 *    station.json in one step) and nothing else but the release's files put where the skeleton says:
 *    esptool verify-flash compares the images, and ESP-IDF v5.1 prints 16 hex characters of the ELF hash;
 *  - an NXP LPC55S69 line with only its ROM bootloader (SPSDK blhost over UART): the PUF key store enrolled
 *    with the SB key, the application delivered in an SB2.1 container and read back, the CMPA page sealed
 *    last; a part whose key store does not take the key is refused by the ROM ("Bad SBKEK").
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { approveRecipeRelease, buildFirmware, ptyPair, scan, startDevice, startStation, station, stationConfig, stationTestsUnavailable, type PtyPair, type ScriptedDevice } from './helpers/station-line.ts';

const skip = stationTestsUnavailable();
if (skip) console.warn(`station line tests skipped: ${skip}`);

let dir: string;
let t: TestLedger;
let scanner: PtyPair;
const auditor = () => new LedgerClient(t.url, t.tokens.auditor);
type Entry = { event: { type: string; data: Record<string, unknown> } };
const history = async (serial: string) => (await auditor().get<{ events: Entry[] }>(`/v1/units/${serial}/events`)).events;
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-lines-'));
  t = await startTestLedger({ dataDir: join(dir, 'ledger') });
  scanner = await ptyPair(dir, 'scanner');
}, 60_000);

afterAll(async () => {
  if (skip) return;
  scanner?.close();
  await t?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip !== null)('other lines', () => {
  let device: ScriptedDevice;

  it('an ESP32 development line from `station enroll`: verify-flash, 16 ELF characters, eFuses read to show nothing is enabled', async () => {
    device = await startDevice(join(dir, 'esp32'), 'esp32');
    try {
      const fw = join(dir, 'esp32-fw');
      const manifest = buildFirmware(fw, 'esp32', { version: '1.2.0' });
      const template = join(dir, 'nvs-dev.csv');
      writeFileSync(template, 'key,type,encoding,value\nserial,data,string,{serial}\n');
      await approveRecipeRelease(t, { fwDir: fw, manifest, releaseId: 'DEVKIT-1.2.0', sku: 'DEVKIT', batchId: 'B-DEV', template });

      const home = join(dir, 'dev-01');
      const enrolled = await station(['enroll', '--id', 'DEV-01', '--line', 'L1', '--batch', 'B-DEV', '--dir', home, '--port', device.port.station, '--scanner', scanner.station, '--fixture', 'JIG-9', '--url', t.url, '--data', t.dataDir]);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      expect(enrolled.stdout).toMatch(/registered station DEV-01 \(flash, line L1\) and its key/);
      const configFile = join(home, 'station.json');
      await new Promise((r) => setTimeout(r, 1100)); // the ledger reads its token file again at most once a second
      // Without the release's files the station does not start, and says which.
      const early = await station(['run', '--config', configFile]);
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/images\.bootloader: .*fw\/bootloader\.bin: no such file or directory/);
      expect(early.stderr).toMatch(/templates\.tpl-DEVKIT: /);
      // Put them where the skeleton says, and run.
      mkdirSync(join(home, 'fw'), { recursive: true });
      for (const [name, image] of Object.entries(manifest.images)) copyFileSync(join(fw, image.file), join(home, 'fw', `${name}.bin`));
      copyFileSync(template, join(home, 'fw', 'tpl-DEVKIT.csv'));
      const skeleton = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
      expect(skeleton).toMatchObject({ stationId: 'DEV-01', role: 'flash', fixture: 'JIG-9', batchId: 'B-DEV', ports: { console: { path: device.port.station } } });
      const agent = await startStation(configFile);
      try {
        scan(scanner, 'FT:LOGIN:op-lab');
        await agent.waitFor(/operator op-lab logged in/);
        const at = agent.lines.length;
        scan(scanner, 'DEV-0001');
        expect(await agent.outcome('DEV-0001', at)).toMatch(/verify-flash matches release .*boot-log ELF [0-9a-f]{16}… \(16 chars\) .*read-efuses as expected .*PASS$/);
        await until(async () => /0 pending/.test((await station(['status', '--config', configFile])).stdout), 'delivery');
      } finally {
        await agent.kill('SIGTERM');
      }
      const events = await history('DEV-0001');
      expect(events.map((e) => e.event.type)).toEqual(['UnitScanned', 'IdentityRead', 'ImagesWritten', 'ImagesVerified', 'ProvisioningApplied', 'ImagesVerified', 'SecurityStateRead']);
      const boot = events[5]?.event.data as { images: { comparedChars: number }[]; bootLog: { idfVersion: string } };
      expect(boot.images[0]?.comparedChars).toBe(16);
      expect(boot.bootLog.idfVersion).toBe('v5.1.4');
      expect(events[0]?.event.data).toMatchObject({ operator: 'op-lab', fixture: 'JIG-9', station: 'DEV-01' });
      expect(events[4]?.event.data['image']).toMatchObject({ name: 'nvs', offset: 0x9000 });
      // No lock step on a development line: every step done, which the production view calls completed.
      expect(await auditor().get('/v1/units/DEV-0001')).toMatchObject({ status: 'in_progress', stepsDone: ['read-mac', 'write-images', 'verify-flash', 'write-nvs', 'boot-log', 'read-efuses'], chipId: null, mac: 'f4:12:fa:00:00:01' });
      expect((await auditor().get<{ completed: number; inProgress: number }>('/v1/batches/B-DEV/scrap'))).toMatchObject({ completed: 1, inProgress: 0 });
    } finally {
      device.stop();
    }
  }, 180_000);

  it('an NXP LPC55S69 line with its ROM bootloader: key store, SB2.1, read-back, CMPA sealed last; a key store that does not take the key is refused by the ROM', async () => {
    device = await startDevice(join(dir, 'lpc'), 'lpc55s69');
    try {
      const fw = join(dir, 'lpc-fw');
      const manifest = buildFirmware(fw, 'lpc55s69');
      await approveRecipeRelease(t, { fwDir: fw, manifest, releaseId: 'GW-2.1.0', sku: 'GATEWAY', batchId: 'B-GW' });
      writeSecretKeyFile(join(dir, 'st-02.key'), t.stationKeys['ST-02']);
      writeFileSync(join(dir, 'st-02.token'), t.tokens.station2, { mode: 0o600 });
      const configFile = stationConfig({ dir, stationId: 'ST-02', recipe: 'lpc55s69-sb21', ledgerUrl: t.url, tokenFile: join(dir, 'st-02.token'), keyFile: join(dir, 'st-02.key'), batchId: 'B-GW', scanner: scanner.station, device: device.port.station, fwDir: fw, manifest, extra: { operator: 'op-nxp' } });
      const agent = await startStation(configFile);
      try {
        device.newBoard({ uid: '0c1023417b563a50bc8660c7bd9e2267' });
        let at = agent.lines.length;
        scan(scanner, 'GW-0001');
        expect(await agent.outcome('GW-0001', at)).toMatch(/read-uid 0c1023417b563a50bc8660c7bd9e2267 .*seal-cmpa LOCKED .*check-secure as expected .*PASS$/);
        expect(device.state().cmpa_sealed).toBe(true);

        device.newBoard({ uid: '0c1023417b563a50bc8660c7bd9e2268' });
        device.faults({ efuse_burn_ignored: true });
        at = agent.lines.length;
        scan(scanner, 'GW-0002');
        expect(await agent.outcome('GW-0002', at)).toMatch(/receive-sb ROM_REFUSED · receive-sb ROM_REFUSED {2}→ REWORK: receive-sb ROM_REFUSED: blhost: 10118 ROM Loader: Bad SBKEK Detected\./);
        device.faults({});
        expect(device.state().cmpa_sealed).toBeUndefined();
        await until(async () => /0 pending/.test((await station(['status', '--config', configFile])).stdout), 'delivery');
      } finally {
        await agent.kill('SIGTERM');
      }
      const events = await history('GW-0001');
      expect(events.map((e) => (e.event.type === 'StepStarted' ? `start:${String(e.event.data['step'])}` : e.event.type))).toEqual([
        'UnitScanned',
        'IdentityRead',
        'SecurityStateRead',
        'start:provision-keystore',
        'EfuseBurned',
        'ImagesWritten',
        'ImagesVerified',
        'start:seal-cmpa',
        'UnitLocked',
        'ImagesVerified',
        'SecurityStateRead',
      ]);
      expect(events[1]?.event.data).toMatchObject({ chipId: '0c1023417b563a50bc8660c7bd9e2267', mac: null });
      expect(events[10]?.event.data['fields']).toEqual([{ name: 'Security State', value: 'SECURE' }, { name: 'Response status', value: 0 }]);
      expect(await auditor().get('/v1/units/GW-0001')).toMatchObject({ status: 'locked', chipId: '0c1023417b563a50bc8660c7bd9e2267' });
    } finally {
      device.stop();
    }
  }, 180_000);
});
