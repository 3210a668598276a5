/**
 * The tool runs of each step of the shipped recipes (src/domain/recipes.ts), as station.json says them:
 * what `flashtrail station enroll` writes into a new station's configuration, and what station/examples/
 * holds (a test checks that they agree). Command names are those of esptool/espefuse v5 and SPSDK 3.x.
 *
 * Decisions where the tools' documentation leaves a question (see the README):
 *  - `--port` goes before the espefuse subcommand: v5's click interface takes group options there, and the
 *    form works in every version (Espressif's workflow page writes it after the subcommand).
 *  - The burn steps pass `{fuses}`: the recipe's own eFuse list, so the tool burns exactly what the signed
 *    event will say.
 *  - Images are written with `--force`: once Secure Boot is on, esptool refuses offsets below 0x8000
 *    otherwise; the images were signed and encrypted on the build server.
 *  - The LPC55S69's lifecycle is read as blhost property 17 (security state) and by reading the sealed CMPA
 *    page back; the ROM bootloader speaks UART at 115200 on the ISP port.
 */
import type { StepConfig } from './config.ts';

type Steps = Record<string, { run: { command: string[]; timeoutMs: number }[]; tries?: number; provisionedImage?: StepConfig['provisionedImage'] }>;

const esptool = (chip: string, ...args: string[]) => ['esptool', '--chip', chip, '-p', '{port}', ...args];
const espefuse = (chip: string, ...args: string[]) => ['espefuse', '--chip', chip, '-p', '{port}', ...args];
const blhost = (...args: string[]) => ['blhost', '-p', '{port},{baud}', ...args];
const run = (command: string[], timeoutMs = 60_000) => ({ command, timeoutMs });
const nvs = (chip: string): Steps[string] => ({
  run: [run(['python3', '-m', 'esp_idf_nvs_partition_gen', 'generate', '{config}', '{out:nvs}', '0x6000'], 30_000), run(esptool(chip, 'write-flash', '0x9000', '{out:nvs}'), 60_000)],
  provisionedImage: { name: 'nvs', offset: 0x9000 },
});

export const STATION_TOOLS: Readonly<Record<string, Steps>> = {
  'esp32s3-sbv2-fe-host': {
    'read-mac': { run: [run(esptool('esp32s3', 'chip-id'), 30_000)] },
    'read-unique-id': { run: [run(espefuse('esp32s3', 'summary', '--format', 'json', 'OPTIONAL_UNIQUE_ID', 'MAC'), 30_000)] },
    'burn-flash-encryption': {
      run: [run(espefuse('esp32s3', '--do-not-confirm', 'burn-key', 'BLOCK_KEY0', '{secret:flash-encryption-key}', 'XTS_AES_128_KEY', 'burn-efuse', '{fuses}', 'write-protect-efuse', 'DIS_ICACHE'))],
      tries: 1,
    },
    'burn-secure-boot': {
      run: [run(espefuse('esp32s3', '--do-not-confirm', 'burn-key-digest', 'BLOCK_KEY1', '{secret:secure-boot-public-key}', 'SECURE_BOOT_DIGEST0', 'burn-efuse', '{fuses}', 'write-protect-efuse', 'RD_DIS'))],
      tries: 1,
    },
    'read-back-efuses': { run: [run(espefuse('esp32s3', 'summary', '--format', 'json'), 30_000)] },
    'write-images': {
      run: [run(esptool('esp32s3', '-b', '460800', 'write-flash', '--force', '{offset:bootloader}', '{image:bootloader}', '{offset:partition-table}', '{image:partition-table}', '{offset:app}', '{image:app}'), 180_000)],
    },
    'read-back-images': {
      run: ['bootloader', 'partition-table', 'app'].map((name) => run(esptool('esp32s3', '-b', '460800', 'read-flash', `{offset:${name}}`, `{size:${name}}`, `{out:${name}}`), 120_000)),
    },
    'write-nvs': nvs('esp32s3'),
    'boot-log': { run: [run(esptool('esp32s3', 'run'), 30_000)] },
    'enable-secure-download': { run: [run(espefuse('esp32s3', '--do-not-confirm', 'burn-efuse', '{fuses}'))], tries: 1 },
    'confirm-security-info': { run: [run(esptool('esp32s3', '--no-stub', 'get-security-info'), 30_000)] },
  },
  'esp32-dev': {
    'read-mac': { run: [run(esptool('esp32', 'read-mac'), 30_000)] },
    'write-images': {
      run: [run(esptool('esp32', '-b', '460800', 'write-flash', '{offset:bootloader}', '{image:bootloader}', '{offset:partition-table}', '{image:partition-table}', '{offset:app}', '{image:app}'), 180_000)],
    },
    'verify-flash': {
      run: [run(esptool('esp32', 'verify-flash', '{offset:bootloader}', '{image:bootloader}', '{offset:partition-table}', '{image:partition-table}', '{offset:app}', '{image:app}'), 120_000)],
    },
    'write-nvs': nvs('esp32'),
    'boot-log': { run: [run(esptool('esp32', 'run'), 30_000)] },
    'read-efuses': { run: [run(espefuse('esp32', 'summary', '--format', 'json'), 30_000)] },
  },
  'lpc55s69-sb21': {
    'read-uid': { run: [run(blhost('get-property', '18'), 10_000)] },
    'check-unsecure': { run: [run(blhost('get-property', '17'), 10_000)] },
    'provision-keystore': {
      run: [run(blhost('key-provisioning', 'enroll'), 30_000), run(blhost('key-provisioning', 'set_user_key', '3', '{secret:sbkek}'), 30_000), run(blhost('key-provisioning', 'write_key_nonvolatile', '0'), 30_000)],
      tries: 1,
    },
    'receive-sb': { run: [run(blhost('receive-sb-file', '{image:firmware-sb}'), 180_000)] },
    'read-back-app': { run: [run(blhost('read-memory', '{offset:app}', '{size:app}', '{out:app}'), 120_000)] },
    'seal-cmpa': { run: [run(blhost('write-memory', '{offset:cmpa}', '{image:cmpa}'), 30_000)], tries: 1 },
    'read-back-cmpa': { run: [run(blhost('read-memory', '{offset:cmpa}', '{size:cmpa}', '{out:cmpa}'), 30_000)] },
    'check-secure': { run: [run(blhost('get-property', '17'), 10_000)] },
  },
};

/** The secret files and templates a station of each recipe needs (their paths go into station.json). */
export const STATION_FILES: Readonly<Record<string, { secrets: readonly string[]; templates: boolean }>> = {
  'esp32s3-sbv2-fe-host': { secrets: ['flash-encryption-key', 'secure-boot-public-key'], templates: true },
  'esp32-dev': { secrets: [], templates: true },
  'lpc55s69-sb21': { secrets: ['sbkek'], templates: false },
};
