/** station.json: validated with zod, so a typo is a clear error at start, not a surprise mid-batch. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { Identifier, Sha256Hex } from '../schemas/common.ts';

const Port = z.strictObject({
  path: z.string().min(1).describe('serial device, e.g. /dev/ttyUSB0'),
  baudRate: z.int().positive().default(115200),
});

const Tool = z.strictObject({
  command: z.array(z.string().min(1)).min(1).describe('argv; {serial} {image} {port} {config} are substituted'),
  timeoutMs: z.int().positive().default(120_000),
});

export const StationConfigSchema = z.strictObject({
  stationId: Identifier,
  operator: z.string().min(1).max(200),
  keyFile: z.string().min(1),
  dataDir: z.string().min(1).default('./station-data').describe('outbox and cached release live here'),
  ledger: z.strictObject({
    url: z.url(),
    tokenFile: z.string().min(1),
  }),
  batchId: Identifier,
  productSku: z.string().min(1).max(200),
  hardwareRevision: z.string().min(1).max(200),
  ports: z.strictObject({
    scanner: Port.describe('barcode scanner in serial mode: one serial number per line'),
    console: Port.describe("the device's console, read after flashing to verify what it runs"),
  }),
  images: z.strictObject({
    bootloader: z.strictObject({ path: z.string().min(1), version: z.string().min(1).max(64) }),
    application: z.strictObject({ path: z.string().min(1), version: z.string().min(1).max(64) }),
  }),
  secureBoot: z.strictObject({
    signingKeyRef: z.string().min(1).max(200),
    signingKeyDigest: Sha256Hex,
  }),
  provisioning: z.strictObject({
    templateId: Identifier,
    templatePath: z.string().min(1).describe('config template; {serial} is replaced per unit'),
  }),
  efuse: z.strictObject({
    profile: Identifier,
    fuses: z.array(z.strictObject({ name: z.string().min(1), value: z.string() })).min(1),
    flashEncryption: z.boolean(),
  }),
  verification: z
    .strictObject({
      pattern: z.string().default('ELF file SHA256:\\s+([0-9a-f]{64})').describe('regex over console lines; group 1 is the running image hash'),
      timeoutMs: z.int().positive().default(15_000),
    })
    .prefault({}),
  steps: z.strictObject({
    bootloader: Tool,
    application: Tool,
    provisioning: Tool,
    efuse: Tool,
  }),
});

export type StationConfig = z.infer<typeof StationConfigSchema>;

export class StationConfigError extends Error {
  override readonly name = 'StationConfigError';
}

/** Reads and validates station.json; relative paths are taken from the file's own folder. */
export function loadStationConfig(file: string): StationConfig {
  // A missing or unreadable file is reported as such (ENOENT, EACCES with the path), not as bad JSON.
  const text = readFileSync(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StationConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = StationConfigSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new StationConfigError(`${file} is not a valid station configuration:\n${lines.join('\n')}`);
  }
  const base = dirname(resolve(file));
  const at = (p: string) => resolve(base, p);
  const c = parsed.data;
  return {
    ...c,
    keyFile: at(c.keyFile),
    dataDir: at(c.dataDir),
    ledger: { ...c.ledger, tokenFile: at(c.ledger.tokenFile) },
    images: { bootloader: { ...c.images.bootloader, path: at(c.images.bootloader.path) }, application: { ...c.images.application, path: at(c.images.application.path) } },
    provisioning: { ...c.provisioning, templatePath: at(c.provisioning.templatePath) },
  };
}
