/**
 * station.json and the examples in station/examples/: every example loads against the schemas the ledger
 * and the agent apply, matches the recipe it is for (the same tool runs `station enroll` writes), and a
 * configuration that would fail mid-unit is refused when it is read.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadStationConfig, StationConfigSchema } from '../station/config.ts';
import { preflight } from '../station/preflight.ts';
import { STATION_TOOLS } from '../station/templates.ts';
import { substitute } from '../station/tools.ts';
import { adminEventSchemas, parseEventData, ReleaseApprovedV2 } from '../schemas/index.ts';
import { isRecipeRelease } from '../src/domain/recipe.ts';

const EXAMPLES = join(fileURLToPath(import.meta.url), '..', '..', 'station', 'examples');
const lines = readdirSync(EXAMPLES).sort();
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as unknown;

describe('station/examples', () => {
  it('holds an ESP32-S3 line, an ESP32 development line, an NXP line and a packing station', () => {
    expect(lines).toEqual(['esp32-dev-line', 'esp32s3-line', 'lpc55s69-line', 'packing']);
  });

  for (const line of lines) {
    it(`${line}: every file is valid for its schema, and the station runs its batch's recipe`, () => {
      const dir = join(EXAMPLES, line);
      const files = readdirSync(dir);
      const config = loadStationConfig(join(dir, 'station.json'));
      if (files.includes('station-registered.json')) expect(parseEventData('StationRegistered', json(join(dir, 'station-registered.json')))).toMatchObject({ ok: true, schemaVersion: 3 }); // the current version, which names every role
      if (!files.includes('release.json')) {
        expect(config.role).not.toBe('flash');
        return;
      }
      const release = ReleaseApprovedV2.parse(json(join(dir, 'release.json')));
      const batch = adminEventSchemas.BatchOpened.parse(json(join(dir, 'batch.json')));
      expect(batch.releaseId).toBe(release.releaseId);
      expect(config.batchId).toBe(batch.batchId);
      if (!isRecipeRelease(release)) throw new Error('not a recipe release');
      // The same tool runs as `station enroll` writes for this recipe.
      expect(JSON.parse(readFileSync(join(dir, 'station.json'), 'utf8')).steps).toEqual(STATION_TOOLS[release.recipe.id]);
      expect(preflight(config, release, { ...batch, status: 'open' }, { files: false })).toEqual([]);
      for (const csv of files.filter((f) => f.endsWith('.csv'))) {
        const step = release.recipe.steps.find((s) => s.kind === 'provision');
        expect(step && step.kind === 'provision' ? step.templateSha256 : null).toBe(createHashHex(readFileSync(join(dir, csv))));
      }
    });
  }
});

const createHashHex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('station configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-station-config-'));
  const write = (patch: Record<string, unknown>) => {
    const base = json(join(EXAMPLES, 'esp32s3-line', 'station.json')) as Record<string, unknown>;
    const file = join(dir, `c-${Math.random()}.json`);
    writeFileSync(file, JSON.stringify({ ...base, ...patch }));
    return file;
  };
  const problems = (patch: Record<string, unknown>) => {
    try {
      loadStationConfig(write(patch));
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('resolves relative paths from the file’s own folder', () => {
    const c = loadStationConfig(join(EXAMPLES, 'esp32s3-line', 'station.json'));
    expect(c.images['app']).toBe(join(EXAMPLES, 'esp32s3-line', 'fw', 'app-signed-enc.bin'));
    expect(c.templates['nvs-sensor']).toBe(join(EXAMPLES, 'esp32s3-line', 'nvs-sensor.csv'));
    expect(c.gate.offline).toBe('refuse');
  });

  it('refuses a ledger URL without a scheme or host, and javascript:', () => {
    for (const url of ['ledger:8080', 'javascript:alert(1)', 'ftp://ledger', 'not a url']) {
      expect(problems({ ledger: { url, tokenFile: 't' } }), url).toMatch(/ledger\.url: an http:\/\/ or https:\/\/ URL with a host/);
    }
    expect(problems({ ledger: { url: 'https://ledger.plant1.example', tokenFile: 't' } })).toBe('');
  });

  it('refuses a boot-log pattern that does not compile or captures no group, when it is read', () => {
    expect(problems({ bootLog: { pattern: '(' } })).toMatch(/bootLog\.pattern: not a regular expression/);
    expect(problems({ bootLog: { pattern: 'ELF file SHA256: [0-9a-f]+' } })).toMatch(/bootLog\.pattern: it must capture exactly one group/);
    expect(problems({ bootLog: { pattern: 'ELF file SHA256:\\s+([0-9a-f]{8,16})' } })).toBe('');
  });

  it('names each member that is wrong', () => {
    const message = problems({ stationId: 'ST 01', role: 'janitor', steps: { 'Bad Step': { run: [] } } });
    expect(message).toMatch(/stationId/);
    expect(message).toMatch(/role/);
    expect(message).toMatch(/steps/);
  });

  it('a flashing station needs the device port', () => {
    expect(StationConfigSchema.safeParse({ ...(json(join(EXAMPLES, 'esp32s3-line', 'station.json')) as object), ports: { scanner: { path: '/dev/ttyACM0' } } }).error?.issues[0]?.message).toMatch(/needs ports\.console/);
  });

  it('substitutes placeholders, expands {fuses} into arguments, and refuses an unknown one', () => {
    const vars = new Map([['port', '/dev/ttyUSB0'], ['image:app', 'fw/app.bin'], ['offset:app', '0x10000']]);
    expect(substitute(['esptool', '-p', '{port}', 'write-flash', '{offset:app}', '{image:app}'], vars)).toEqual(['esptool', '-p', '/dev/ttyUSB0', 'write-flash', '0x10000', 'fw/app.bin']);
    expect(substitute(['espefuse', 'burn-efuse', '{fuses}'], vars, new Map([['fuses', ['SECURE_BOOT_EN', '1', 'SOFT_DIS_JTAG', '7']]]))).toEqual(['espefuse', 'burn-efuse', 'SECURE_BOOT_EN', '1', 'SOFT_DIS_JTAG', '7']);
    expect(() => substitute(['x', '{nope}'], vars)).toThrow(/unknown placeholder \{nope\}/);
  });
});
