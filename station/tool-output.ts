/**
 * Reading what the vendor tools and the device printed: esptool v5, espefuse v5 (`summary --format json`),
 * SPSDK blhost, and the ESP-IDF boot log. The formats are those of /work/notes-derived fixtures in
 * test/station-tool-output.unit.test.ts (esptool/espefuse v5.1, ESP-IDF v5.0–v5.5, SPSDK 3.x). Only what
 * the tool printed is evidence: nothing here fills in a value the output does not contain.
 */

export type FieldValue = string | number | boolean;

/** Fields a tool reported, by name: `SECURE_BOOT_EN`, `BLOCK_KEY0.readable`, `Security State`. */
export type Fields = Map<string, FieldValue>;

const MAC = /^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** `esptool v5.1.0`, `espefuse v5.1.0`, `espsecure v5.1.0`: the first line of every Espressif tool. */
export function toolVersion(stdout: string): string | undefined {
  const m = /^(esptool|espefuse|espsecure) v(\d+\.\d+(?:\.\d+)?(?:[.-]\w+)?)\s*$/m.exec(stdout);
  return m ? `${m[1]} v${m[2]}` : undefined;
}

export interface Identity {
  readonly chipType?: string;
  readonly chipId: string | null;
  readonly mac: string | null;
}

/**
 * chip-id / read-mac (the MAC after the banner's `MAC:` label; the command prints it again), espefuse JSON
 * (MAC, OPTIONAL_UNIQUE_ID) or blhost get-property 18 (`Unique Device Identification = …`).
 */
export function parseIdentity(stdout: string): Identity {
  let chipType: string | undefined;
  let mac: string | null = null;
  let chipId: string | null = null;
  const type = /^Chip type:\s+(.+?)\s*$/m.exec(stdout);
  if (type) chipType = type[1];
  const macs = [...stdout.matchAll(/^MAC:\s+([0-9a-f:]{17})\s*$/gm)].map((m) => m[1] as string);
  const lastMac = macs[macs.length - 1];
  if (lastMac && MAC.test(lastMac)) mac = lastMac;
  const chipIdLine = /^Chip ID:\s+0x([0-9a-f]+)\s*$/im.exec(stdout);
  if (chipIdLine) chipId = (chipIdLine[1] as string).toLowerCase().padStart(8, '0');
  const uid = /^Unique Device Identification = ([0-9a-fA-F ]+?)\s*$/m.exec(stdout);
  if (uid) chipId = (uid[1] as string).replace(/ /g, '').toLowerCase();
  const efuses = parseEspefuseJson(stdout);
  if (efuses) {
    const m = efuses.get('MAC');
    if (typeof m === 'string' && MAC.test(m)) mac = m;
    const u = efuses.get('OPTIONAL_UNIQUE_ID');
    if (typeof u === 'string' && /^[0-9a-f]{8,64}$/.test(u)) chipId = u;
  }
  return { ...(chipType !== undefined ? { chipType } : {}), chipId, mac };
}

interface EfuseJsonField {
  readonly value: unknown;
  readonly readable?: unknown;
  readonly efuse_type?: unknown;
  readonly category?: unknown;
}

/**
 * `espefuse summary --format json`: the JSON object after the preamble lines. Values as espefuse reports
 * them, normalised so that a recipe can name them: bytes fields as lowercase hex without spaces (`??` groups
 * of a read-protected key stay as they are), the MAC without its ` (OK)` suffix; and `NAME.readable` for
 * every field. Null when the output holds no such object.
 */
export function parseEspefuseJson(stdout: string): Fields | null {
  const start = stdout.indexOf('\n{');
  const from = stdout.startsWith('{') ? 0 : start >= 0 ? start + 1 : -1;
  if (from < 0) return null;
  const end = stdout.lastIndexOf('}');
  if (end < from) return null;
  let json: unknown;
  try {
    json = JSON.parse(stdout.slice(from, end + 1));
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null) return null;
  const fields: Fields = new Map();
  for (const [name, raw] of Object.entries(json as Record<string, EfuseJsonField>)) {
    if (typeof raw !== 'object' || raw === null || !('value' in raw)) continue;
    let value = raw.value;
    if (typeof value === 'string' && typeof raw.efuse_type === 'string' && raw.efuse_type.startsWith('bytes')) {
      const mac = /^([0-9a-f]{2}(?::[0-9a-f]{2}){5}) \((?:CRC 0x[0-9a-f]{2} )?OK\)$/.exec(value);
      value = mac ? mac[1] : /^[0-9a-f]{2}( [0-9a-f]{2})*$/.test(value) ? value.replace(/ /g, '') : value;
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields.set(name, value);
    if (typeof raw.readable === 'boolean') fields.set(`${name}.readable`, raw.readable);
  }
  return fields;
}

/** The categories of espefuse fields that describe the chip's security configuration. */
export function securityFieldNames(stdout: string): string[] {
  const start = stdout.indexOf('\n{');
  const end = stdout.lastIndexOf('}');
  if (start < 0 || end < start) return [];
  try {
    const json = JSON.parse(stdout.slice(start + 1, end + 1)) as Record<string, EfuseJsonField>;
    return Object.entries(json)
      .filter(([, f]) => f.category === 'security' || f.category === 'jtag' || f.category === 'usb')
      .map(([name]) => name);
  } catch {
    return [];
  }
}

/** Flag bits of esptool get-security-info (ROM GET_SECURITY_INFO), ESP32-S3 and later. */
const SECURITY_FLAGS = ['SECURE_BOOT_EN', 'SECURE_BOOT_AGGRESSIVE_REVOKE', 'SECURE_DOWNLOAD_ENABLE', 'SECURE_BOOT_KEY_REVOKE0', 'SECURE_BOOT_KEY_REVOKE1', 'SECURE_BOOT_KEY_REVOKE2', 'SOFT_DIS_JTAG', 'HARD_DIS_JTAG', 'DIS_USB', 'DIS_DOWNLOAD_DCACHE', 'DIS_DOWNLOAD_ICACHE'];

/** `esptool get-security-info`: the labelled lines, the decoded flag bits, and SPI_BOOT_CRYPT_CNT. */
export function parseSecurityInfo(stdout: string): Fields | null {
  if (!/^Security Information:\s*$/m.test(stdout)) return null;
  const fields: Fields = new Map();
  const flags = /^Flags: (0x[0-9a-f]{8}) /m.exec(stdout);
  if (flags) {
    const bits = parseInt(flags[1] as string, 16);
    fields.set('Flags', flags[1] as string);
    SECURITY_FLAGS.forEach((name, bit) => fields.set(name, (bits & (1 << bit)) !== 0));
  }
  const purposes = /^Key Purposes: \(([\d, ]+)\)\s*$/m.exec(stdout);
  if (purposes) fields.set('Key Purposes', (purposes[1] as string).replace(/ /g, ''));
  for (const label of ['Chip ID', 'API Version', 'Secure Boot', 'Flash Encryption', 'JTAG', 'USB Access', 'Secure Boot Aggressive key revocation', 'Dcache in UART download mode', 'Icache in UART download mode']) {
    const m = new RegExp(`^${label}: (.+?)\\s*$`, 'm').exec(stdout);
    if (m) fields.set(label, m[1] as string);
  }
  const crypt = /^SPI Boot Crypt Count \(SPI_BOOT_CRYPT_CNT\): (0x[0-9a-f]+)\s*$/m.exec(stdout);
  if (crypt) fields.set('SPI_BOOT_CRYPT_CNT', crypt[1] as string);
  return fields;
}

/** blhost's decoded lines: `Security State = SECURE`, `Current Version = K3.0.0`; and its status. */
export function parseBlhost(stdout: string): Fields | null {
  const status = /^Response status = (\d+) \(0x[0-9a-f]+\) (.+?)\.?\s*$/m.exec(stdout);
  if (!status) return null;
  const fields: Fields = new Map([['Response status', Number(status[1])]]);
  for (const m of stdout.matchAll(/^([A-Z][A-Za-z ]+?) = (.+?)\s*$/gm)) {
    const name = m[1] as string;
    if (name === 'Response status' || name.startsWith('Response word')) continue;
    fields.set(name, m[2] as string);
  }
  return fields;
}

/** Whatever security fields the output holds, from whichever tool printed it. */
export function parseSecurityState(stdout: string): Fields | null {
  return parseEspefuseJson(stdout) ?? parseSecurityInfo(stdout) ?? parseBlhost(stdout);
}

/** blhost: 0 is success; any other status is the ROM's refusal, named. */
export function blhostStatus(stdout: string): { code: number; text: string } | null {
  const m = /^Response status = (\d+) \(0x[0-9a-f]+\) (.+?)\s*$/m.exec(stdout);
  return m ? { code: Number(m[1]), text: m[2] as string } : null;
}

/** espefuse confirms a burn with `Successful.` last; `Aborting.` (exit 0!) means nothing was burned. */
export function espefuseBurnConfirmed(stdout: string): boolean {
  const lines = stdout.trimEnd().split('\n').map((l) => l.trim());
  return lines.includes('Successful.') && !lines.includes('Aborting.') && !lines.some((l) => l.startsWith('Nothing to burn'));
}

/** esptool verify-flash: per file, in order, whether the digest matched. */
export function parseVerifyFlash(stdout: string): { address: number; matched: boolean }[] {
  const out: { address: number; matched: boolean }[] = [];
  let address: number | null = null;
  for (const line of stdout.split('\n')) {
    const v = /^Verifying 0x[0-9a-f]+ \(\d+\) bytes at (0x[0-9a-f]+) in flash against /.exec(line);
    if (v) address = parseInt(v[1] as string, 16);
    else if (address !== null && /^Verification successful \(digest matched\)\./.test(line)) {
      out.push({ address, matched: true });
      address = null;
    } else if (address !== null && /^Verification failed/.test(line)) {
      out.push({ address, matched: false });
      address = null;
    }
  }
  return out;
}

/** esptool write-flash: the addresses it reports written and verified (`Wrote … at 0x…` then `Hash of data verified.`). */
export function parseWriteFlash(stdout: string): { address: number; verified: boolean }[] {
  const out: { address: number; verified: boolean }[] = [];
  const lines = stdout.split('\n');
  lines.forEach((line, i) => {
    const m = /^Wrote \d+ bytes(?: \(\d+ compressed\))? at (0x[0-9a-f]+) in /.exec(line);
    if (m) out.push({ address: parseInt(m[1] as string, 16), verified: /^Hash of data verified\./.test(lines[i + 1] ?? '') || /^Hash of data verified\./.test(lines[i + 2] ?? '') });
  });
  return out;
}

/** The fatal line of an Espressif tool (stderr), or the last non-empty line: for a failure's message. */
export function failureSummary(stdout: string, stderr: string): string {
  const fatal = /A (?:fatal|serial exception) error occurred: ([^\n]+(?:\n\([^\n]+\))?)/.exec(stderr);
  if (fatal) return (fatal[1] as string).replace(/\n/g, ' ');
  const last = [...stderr.split('\n'), ...stdout.split('\n')].map((l) => l.replace(/\r/g, '').trim()).filter((l) => l !== '');
  return (stderr.trim() !== '' ? stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').pop() : last.pop()) ?? '(no output)';
}

export interface BootLog {
  /** The first hex characters of the application's ELF SHA-256, as printed (8–16). */
  readonly elfSha256Prefix: string | null;
  readonly idfVersion?: string;
  readonly appVersion?: string;
  readonly projectName?: string;
  readonly secureBoot?: string;
  readonly flashEncryption?: string;
}

/** An ESP-IDF log line: `I (252) app_init: ELF file SHA256:  5c1a7e93b...`, with or without ANSI colours. */
// eslint-disable-next-line no-control-regex -- ESP-IDF's colour codes start with ESC
const LOG_LINE = /^(?:\x1b\[[0-9;]*m)?([EWIDV]) \((\d+|\d\d:\d\d:\d\d\.\d{3})\) ([^:]+): (.*?)(?:\x1b\[0m)?$/;

/** The default boot-log line for the ELF hash: ESP-IDF prints 8–16 hex characters and then `...`. */
export const ELF_SHA_PATTERN = 'ELF file SHA256:\\s+([0-9a-f]{8,16})\\.\\.\\.';

/**
 * The end of ESP-IDF's startup, after which the boot log has no more security lines: `main_task: Calling
 * app_main()` (v5) or `cpu_start: Starting scheduler` (v4). How long to wait for it after the ELF hash.
 */
export const END_OF_STARTUP = /main_task: Calling app_main\(\)|cpu_start: Starting scheduler/;
export const END_OF_STARTUP_WAIT_MS = 3000;

/** Reads the application information ESP-IDF v5 prints at boot (tags cpu_start: ≤ v5.2, app_init: ≥ v5.3). */
export function parseBootLog(lines: readonly string[], elfPattern: RegExp = new RegExp(ELF_SHA_PATTERN)): BootLog {
  let elf: string | null = null;
  const out: { -readonly [K in keyof BootLog]?: BootLog[K] } = {};
  const security: string[] = [];
  const encryption: string[] = [];
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    const m = LOG_LINE.exec(line);
    const message = m ? (m[4] as string) : line;
    const tag = m ? (m[3] as string) : '';
    const e = elfPattern.exec(message);
    if (e && elf === null) elf = (e[1] as string).toLowerCase();
    const info = /^(Project name|App version|ESP-IDF):\s+(.+?)\s*$/.exec(message);
    if (info && (tag === 'app_init' || tag === 'cpu_start')) {
      const [, label, value] = info as unknown as [string, string, string];
      if (label === 'Project name') out.projectName = value;
      if (label === 'App version') out.appVersion = value;
      if (label === 'ESP-IDF') out.idfVersion = value;
    }
    if (tag === 'secure_boot_v2' || /^secure boot verification (succeeded|failed)$/.test(line)) security.push(message);
    if (tag === 'flash_encrypt') encryption.push(message);
  }
  if (security.length > 0) out.secureBoot = security.join('; ').slice(0, 200);
  if (encryption.length > 0) out.flashEncryption = encryption.join('; ').slice(0, 200);
  return { elfSha256Prefix: elf, ...out };
}

/** Checks a user-supplied boot-log pattern at start: it must compile and capture exactly one group. */
export function checkBootLogPattern(pattern: string): string | null {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (error) {
    return `not a regular expression: ${(error as Error).message}`;
  }
  const groups = (new RegExp(`${re.source}|`).exec('')?.length ?? 1) - 1;
  return groups === 1 ? null : `it must capture exactly one group (the hex characters), it captures ${groups}`;
}
