/**
 * station.json: the station, its ports, the tools it runs for each step of its batch's recipe, and the
 * files those tools are given. Validated with zod when it is read, and again against the batch's release
 * before the first unit (station/preflight.ts), so that nothing the run needs fails mid-unit.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { Identifier, ShortText } from '../schemas/common.ts';
import { StationRole } from '../schemas/admin-events.ts';
import { ImageName, StepId } from '../schemas/recipe.ts';
import { checkBootLogPattern } from './tool-output.ts';

const Port = z.strictObject({
  path: z.string().min(1).describe('serial device, e.g. /dev/ttyUSB0'),
  baudRate: z.int().positive().max(10_000_000).default(115200),
});

/** A URL the agent can reach: http or https with a host (not `ledger:8080`, not `javascript:`). */
export const LedgerUrl = z.string().refine(
  (value) => {
    try {
      const u = new URL(value);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { message: 'an http:// or https:// URL with a host, e.g. http://ledger.plant1.example:8080' },
);

const Command = z.array(z.string().min(1).max(4096)).min(1).max(256);
const ToolRun = z.strictObject({
  command: Command.describe('argv; placeholders: {port} {baud} {serial} {image:NAME} {size:NAME} {offset:NAME} {out:NAME} {secret:NAME} {config} {mac} {chipId}'),
  timeoutMs: z.int().positive().max(3_600_000).default(120_000),
});

export const StepConfig = z.strictObject({
  run: z.array(ToolRun).min(1).max(8).describe('the tool runs of the step, in order; all must succeed'),
  tries: z.int().min(1).max(10).default(2).describe('tries of the step before the unit goes to rework'),
  /** Where the provisioning image lands, for a provision step that writes one ({out:NAME}). */
  provisionedImage: z.strictObject({ name: ImageName, offset: z.int().nonnegative().max(0xffff_ffff) }).optional(),
});

export const StationConfigSchema = z
  .strictObject({
    stationId: Identifier,
    role: StationRole.default('flash'),
    operator: ShortText.optional().describe('a fixed operator; otherwise operators log in by scanning their badge (FT:LOGIN:<id>)'),
    fixture: Identifier.optional().describe('the programming jig or test fixture at this station'),
    keyFile: z.string().min(1),
    dataDir: z.string().min(1).default('./station-data').describe('outbox, cached release and tool-output evidence live here'),
    ledger: z.strictObject({ url: LedgerUrl, tokenFile: z.string().min(1) }),
    batchId: Identifier,
    hardwareRevision: ShortText.default('unspecified'),
    ports: z.strictObject({
      scanner: Port.describe('barcode scanner in serial mode: one serial number (or FT: command) per line'),
      console: Port.describe("the device's serial port: the tools use it, the agent reads the boot log on it between tool runs").optional(),
    }),
    images: z.record(ImageName, z.string().min(1)).default({}).describe("the release's image files by name; each must match the release's SHA-256 and size"),
    secrets: z.record(Identifier, z.string().min(1)).default({}).describe('key files the tools are given ({secret:NAME}); their contents are never logged or recorded'),
    templates: z.record(Identifier, z.string().min(1)).default({}).describe("provisioning templates by template id; each must match the recipe's SHA-256"),
    steps: z.record(StepId, StepConfig).default({}),
    bootLog: z
      .strictObject({
        timeoutMs: z.int().positive().max(600_000).default(15_000),
        pattern: z
          .string()
          .max(500)
          .optional()
          .superRefine((p, ctx) => {
            const why = p === undefined ? null : checkBootLogPattern(p);
            if (why) ctx.addIssue({ code: 'custom', message: why });
          })
          .describe('regex over boot-log messages, group 1 the ELF SHA-256 prefix (default: ESP-IDF’s line)'),
      })
      .prefault({}),
    gate: z
      .strictObject({
        offline: z.enum(['refuse', 'local']).default('refuse').describe("an irreversible step (burn, lock) while the ledger is unreachable: 'refuse' (default) sends the unit to rework; 'local' proceeds on the station's own evidence"),
        timeoutMs: z.int().positive().max(120_000).default(10_000),
      })
      .prefault({}),
    afterPass: ToolRun.optional().describe('run after a unit passes (label printer, MES): {serial} {mac} {chipId} {release} {batch}'),
    shipping: z.strictObject({ customer: ShortText, orderRef: ShortText }).optional().describe('default order for a packing station'),
  })
  .superRefine((c, ctx) => {
    if (c.role === 'flash' && c.ports.console === undefined) ctx.addIssue({ code: 'custom', message: 'a flashing station needs ports.console', path: ['ports', 'console'] });
  });

export type StationConfig = z.infer<typeof StationConfigSchema>;
export type StepConfig = z.infer<typeof StepConfig>;

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
  const paths = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, at(v)]));
  const c = parsed.data;
  return {
    ...c,
    keyFile: at(c.keyFile),
    dataDir: at(c.dataDir),
    ledger: { ...c.ledger, tokenFile: at(c.ledger.tokenFile) },
    images: paths(c.images),
    secrets: paths(c.secrets),
    templates: paths(c.templates),
  };
}
