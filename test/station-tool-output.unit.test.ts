/**
 * Reading vendor tool output. The fixtures are the tools' own formats as recorded from their sources
 * (esptool/espefuse v5.1.0, ESP-IDF v5.1 and v5.4, SPSDK 3.x blhost), not the output of our stand-ins, so
 * that the parsers and the stand-ins are checked against the same reference independently.
 */
import { describe, expect, it } from 'vitest';
import {
  blhostStatus,
  checkBootLogPattern,
  espefuseBurnConfirmed,
  failureSummary,
  parseBlhost,
  parseBootLog,
  parseEspefuseJson,
  parseIdentity,
  parseSecurityInfo,
  parseVerifyFlash,
  parseWriteFlash,
  toolVersion,
} from '../station/tool-output.ts';

const BANNER = `esptool v5.1.0
Serial port /dev/ttyUSB0:
Connecting....
Connected to ESP32-S3 on /dev/ttyUSB0:
Chip type:          ESP32-S3 (QFN56) (revision v0.2)
Features:           Wi-Fi, BT 5 (LE), Dual Core + LP Core, 240MHz, Embedded PSRAM 8MB (AP_3v3)
Crystal frequency:  40MHz
MAC:                f4:12:fa:43:5b:20

Uploading stub flasher...
Running stub flasher...
Stub flasher running.
`;

describe('esptool v5', () => {
  it('chip-id on ESP32-S3: no chip id, the MAC instead', () => {
    const out = `${BANNER}\nWarning: ESP32-S3 has no chip ID. Reading MAC address instead.\nMAC:                f4:12:fa:43:5b:20\n\nHard resetting via RTS pin...\n`;
    expect(toolVersion(out)).toBe('esptool v5.1.0');
    expect(parseIdentity(out)).toEqual({ chipType: 'ESP32-S3 (QFN56) (revision v0.2)', chipId: null, mac: 'f4:12:fa:43:5b:20' });
  });

  it('write-flash: each file written and its hash verified', () => {
    const out = `${BANNER}\nConfiguring flash size...\nFlash will be erased from 0x00010000 to 0x00040fff...\nCompressed 197632 bytes to 106842...\n\rWriting at 0x00010000 [                              ]   0.0% 0/106842 bytes... \n\rWriting at 0x00040400 [==============================] 100.0% 106842/106842 bytes... \nWrote 197632 bytes (106842 compressed) at 0x00010000 in 2.9 seconds (545.2 kbit/s).\nHash of data verified.\n\nHard resetting via RTS pin...\n`;
    expect(parseWriteFlash(out)).toEqual([{ address: 0x10000, verified: true }]);
    expect(parseWriteFlash(out.replace('Hash of data verified.\n', ''))).toEqual([{ address: 0x10000, verified: false }]);
  });

  it('verify-flash: v5 says "Verification successful (digest matched)." per file', () => {
    const out = `Configuring flash size...\nVerifying 0x30400 (197632) bytes at 0x00010000 in flash against 'app.bin'...\nVerification successful (digest matched).\nVerifying 0x1000 (4096) bytes at 0x00008000 in flash against 'pt.bin'...\nVerification failed (digest mismatch).\n\nHard resetting via RTS pin...\n`;
    expect(parseVerifyFlash(out)).toEqual([{ address: 0x10000, matched: true }, { address: 0x8000, matched: false }]);
    // v4's wording is not v5's and is not taken as a pass.
    expect(parseVerifyFlash('-- verify OK (digest matched)\n')).toEqual([]);
  });

  it('get-security-info: flags decoded, SPI_BOOT_CRYPT_CNT exact (espefuse JSON cannot tell 1 from 7)', () => {
    const out = `Security Information:\n=====================\nFlags: 0x000006f7 (0b11011110111)\nKey Purposes: (4, 9, 0, 0, 0, 0, 0)\n  BLOCK_KEY0 - XTS_AES_128_KEY\n  BLOCK_KEY1 - SECURE_BOOT_DIGEST0\nChip ID: 9\nAPI Version: 0\nSecure Boot: Enabled\nSecure Boot Aggressive key revocation: Enabled\nSecure Boot Key Revocation Status:\n\n\tSecure Boot Key1 is Revoked\n\nFlash Encryption: Enabled\nSPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x7\nDcache in UART download mode: Disabled\nIcache in UART download mode: Disabled\nJTAG: Permanently Disabled\n`;
    const f = parseSecurityInfo(out);
    expect(f?.get('SECURE_BOOT_EN')).toBe(true);
    expect(f?.get('SECURE_DOWNLOAD_ENABLE')).toBe(true);
    expect(f?.get('SECURE_BOOT_KEY_REVOKE0')).toBe(false);
    expect(f?.get('Secure Boot')).toBe('Enabled');
    expect(f?.get('Flash Encryption')).toBe('Enabled');
    expect(f?.get('SPI_BOOT_CRYPT_CNT')).toBe('0x7');
    expect(f?.get('JTAG')).toBe('Permanently Disabled');
  });

  it('the fatal line of a failure, with the port-busy reason', () => {
    const stderr = "\nA fatal error occurred: Could not open /dev/ttyUSB0, the port is busy or doesn't exist.\n([Errno 11] Could not exclusively lock port /dev/ttyUSB0: [Errno 11] Resource temporarily unavailable)\n\n";
    expect(failureSummary('esptool v5.1.0\nSerial port /dev/ttyUSB0:\n', stderr)).toBe("Could not open /dev/ttyUSB0, the port is busy or doesn't exist. ([Errno 11] Could not exclusively lock port /dev/ttyUSB0: [Errno 11] Resource temporarily unavailable)");
  });
});

describe('espefuse v5', () => {
  const field = (name: string, value: unknown, extra: Record<string, unknown> = {}) =>
    `    "${name}": {\n        "bit_len": 1,\n        "block": 0,\n        "category": "security",\n        "description": "d",\n        "efuse_type": "${String(extra['type'] ?? 'bool')}",\n        "name": "${name}",\n        "pos": 20,\n        "readable": ${String(extra['readable'] ?? true)},\n        "value": ${JSON.stringify(value)},\n        "word": 3,\n        "writeable": true\n    }`;
  const summary = (fields: string[]) => `espefuse v5.1.0\nConnecting....\n\n=== Run "summary" command ===\n{\n${fields.join(',\n')}\n}\n`;

  it('summary --format json: the object after the preamble, bytes as plain hex, MAC without (OK), readable flags', () => {
    const out = summary([
      field('BLOCK_KEY0', '?? ?? ?? ??', { type: 'bytes:32', readable: false }),
      field('BLOCK_KEY1', 'e7 38 51 0a', { type: 'bytes:32' }),
      field('MAC', 'f4:12:fa:43:5b:20 (OK)', { type: 'bytes:6' }),
      field('OPTIONAL_UNIQUE_ID', '0e 3c 55 49 0a 1b 2c 3d', { type: 'bytes:16' }),
      field('SECURE_BOOT_EN', true),
      field('SPI_BOOT_CRYPT_CNT', 'Enable', { type: 'uint:3' }),
    ]);
    const f = parseEspefuseJson(out);
    expect(f?.get('BLOCK_KEY0')).toBe('?? ?? ?? ??');
    expect(f?.get('BLOCK_KEY0.readable')).toBe(false);
    expect(f?.get('BLOCK_KEY1')).toBe('e738510a');
    expect(f?.get('SECURE_BOOT_EN')).toBe(true);
    expect(f?.get('SPI_BOOT_CRYPT_CNT')).toBe('Enable');
    expect(parseIdentity(out)).toEqual({ chipId: '0e3c55490a1b2c3d', mac: 'f4:12:fa:43:5b:20' });
  });

  it('a burn is confirmed by "Successful."; "Aborting." (exit 0!) and "Nothing to burn" are not', () => {
    expect(espefuseBurnConfirmed('. \nThis is an irreversible operation!\nBURN BLOCK0  - OK (all write block bits are set)\nReading updated eFuses...\nChecking eFuses...\nSuccessful.\n')).toBe(true);
    expect(espefuseBurnConfirmed(". \nThis is an irreversible operation!\nType 'BURN' (all capitals) to continue.\nAborting.\n")).toBe(false);
    expect(espefuseBurnConfirmed('\tThe same value for DIS_USB_JTAG is already burned. Do not change the eFuse.\nNothing to burn, see messages above.\n')).toBe(false);
  });
});

describe('ESP-IDF boot log', () => {
  it('v5.4: app_init tags, 9 hex characters of the ELF SHA-256, CRLF lines', () => {
    const lines = ['I (237) app_init: Project name:     station_fw\r', 'I (242) app_init: App version:      1.4.2\r', 'I (252) app_init: ELF file SHA256:  5c1a7e93b...\r', 'I (257) app_init: ESP-IDF:          v5.4.1\r', 'I (171) secure_boot_v2: Signature verified successfully!\r', 'I (190) flash_encrypt: flash encryption is enabled (0 plaintext flashes left)\r', 'I (308) flash_encrypt: Flash encryption mode is RELEASE\r'];
    expect(parseBootLog(lines)).toEqual({
      elfSha256Prefix: '5c1a7e93b',
      projectName: 'station_fw',
      appVersion: '1.4.2',
      idfVersion: 'v5.4.1',
      secureBoot: 'Signature verified successfully!',
      flashEncryption: 'flash encryption is enabled (0 plaintext flashes left); Flash encryption mode is RELEASE',
    });
  });

  it('v5.1: cpu_start tags and 16 characters; colours as v5.0-v5.3 print them by default', () => {
    const lines = ['\x1b[0;32mI (254) cpu_start: ELF file SHA256:  5c1a7e93b4d2f0a8...\x1b[0m', 'I (260) cpu_start: ESP-IDF:          v5.1.4'];
    expect(parseBootLog(lines)).toMatchObject({ elfSha256Prefix: '5c1a7e93b4d2f0a8', idfVersion: 'v5.1.4' });
  });

  it('never takes 64 characters of a .bin hash for the ELF line, nor a line without the "..."', () => {
    expect(parseBootLog([`I (312) app_init: ELF file SHA256:  ${'a'.repeat(64)}`]).elfSha256Prefix).toBeNull();
  });

  it('a configured pattern must compile and capture one group', () => {
    expect(checkBootLogPattern('(')).toMatch(/not a regular expression/);
    expect(checkBootLogPattern('ELF')).toMatch(/exactly one group/);
    expect(checkBootLogPattern('(a)(b)')).toMatch(/captures 2/);
    expect(checkBootLogPattern('ELF file SHA256:\\s+([0-9a-f]{8,16})')).toBeNull();
  });
});

describe('SPSDK blhost', () => {
  it('get-property: status, words, the decoded line', () => {
    const out = 'Response status = 0 (0x0) Success.\nResponse word 1 = 1520786085 (0x5aa55aa5)\nSecurity State = UNSECURE\n';
    expect(parseBlhost(out)?.get('Security State')).toBe('UNSECURE');
    const uid = 'Response status = 0 (0x0) Success.\nResponse word 1 = 1092816908 (0x4123100c)\nResponse word 2 = 1345017467 (0x502a567b)\nResponse word 3 = 3348133564 (0xc78660bc)\nResponse word 4 = 1730322109 (0x67229ebd)\nUnique Device Identification = 0c1023417b563a50bc8660c7bd9e2267\n';
    expect(parseIdentity(uid)).toEqual({ chipId: '0c1023417b563a50bc8660c7bd9e2267', mac: null });
  });

  it('a ROM refusal keeps its code and text', () => {
    expect(blhostStatus('\nResponse status = 10118 (0x2786) ROM Loader: Bad SBKEK Detected.\n')).toEqual({ code: 10118, text: 'ROM Loader: Bad SBKEK Detected.' });
  });
});
