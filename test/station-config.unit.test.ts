import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadStationConfig } from '../station/config.ts';
import { substitute } from '../station/tools.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');

describe('station configuration', () => {
  it('the example configuration is valid, and relative paths resolve from its folder', () => {
    const c = loadStationConfig(join(ROOT, 'station', 'station.example.json'));
    expect(c.stationId).toBe('ST-01');
    expect(c.keyFile).toBe(join(ROOT, 'station', 'st-01.key'));
    expect(c.images.application.path).toBe(join(ROOT, 'station', 'fw', 'sensor-s3.bin'));
    expect(c.verification.timeoutMs).toBe(15000);
    expect(new RegExp(c.verification.pattern).exec(`I (312) app_init: ELF file SHA256:  ${'ab'.repeat(32)}`)?.[1]).toBe('ab'.repeat(32));
  });
  it('tool arguments are substituted, unknown placeholders kept', () => {
    expect(substitute(['esptool.py', '--port', '{port}', 'write_flash', '0x0', '{image}', '{nope}'], { port: '/dev/ttyUSB0', image: 'a.bin' })).toEqual([
      'esptool.py', '--port', '/dev/ttyUSB0', 'write_flash', '0x0', 'a.bin', '{nope}',
    ]);
  });
});
