/**
 * schemas/predicate.ts against zod itself: a predicate built from a schema says true exactly where safeParse
 * succeeds with the value as its output, on genuine unit events of every type and version and on those events
 * changed at any member (another value of any kind, a member removed, a member added); and it is missing (null)
 * rather than wrong for a schema with parts it does not understand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LedgerEventSchema, UNIT_EVENT_TYPES, type LedgerEvent } from '../schemas/index.ts';
import { predicateOf, predicatesByDiscriminator, type Predicate } from '../schemas/predicate.ts';
import { ev, unit } from './helpers/events.ts';
import { firstPass, hex, recipeUnit } from './helpers/recipe.ts';

const shapes = predicatesByDiscriminator(LedgerEventSchema);

/** Genuine events of every unit type and version, the values their fields usually take. */
function genuineUnitEvents(): LedgerEvent[] {
  const u = recipeUnit('SN-7');
  return [
    unit.scanned(),
    { ...unit.scanned(), data: { ...unit.scanned().data, chipId: 'esp32s3-3f4121280dae', mac: '24:0a:c4:ee:17:7a' } } as LedgerEvent,
    unit.bootloader(),
    unit.appVerified(),
    unit.appVerified(hex('e')),
    ev('ProvisioningApplied', { serial: 'SN1', templateId: 'tpl', templateSha256: hex('7'), configSha256: hex('c') }),
    unit.efuse(),
    unit.failed(),
    unit.reworked(),
    unit.scrapped(),
    unit.shipped(),
    ...firstPass(u),
    u.failed('write-images'),
    u.reworked(),
    u.scrapped(),
    u.shipped(),
    u.securityRead('read-back-efuses', { SPI_BOOT_CRYPT_CNT: 3 }),
    u.verified('boot-log', { app: 'deadbeef0' }),
    ev('FirmwareUpdated', { serial: 'SN-7', fromReleaseId: 'R1', toReleaseId: 'R2', images: [{ name: 'app', sha256: hex('a') }], method: 'ota', campaign: 'c-1', reportedVersion: '3.1.0' }),
  ] as LedgerEvent[];
}

const test = (value: unknown): boolean => {
  const shape = typeof value === 'object' && value !== null ? shapes.get((value as { type?: unknown }).type) : undefined;
  return (shape as Predicate)(value);
};

/** Every path to a member or element of a JSON value, the value itself first. */
function pathsOf(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const out = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...path, i])));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...path, k]));
  return out;
}

/** The value with the member at `path` replaced (undefined: removed), or a member added beside it. */
function changed(value: unknown, path: readonly (string | number)[], how: { replace: unknown } | { remove: true } | { add: string }): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  if (path.length === 0) return 'replace' in how ? how.replace : copy;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if ('replace' in how) parent[last] = how.replace;
  else if ('remove' in how) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (!Array.isArray(parent)) parent[how.add] = 1;
  else parent.push(parent[last]);
  return copy;
}

const REPLACEMENTS: unknown[] = [
  null, true, false, 0, -1, 1, 1.5, 255, 256, 86_400_001, 2 ** 31, 2 ** 53, 1e300, -0, '', 'x', 'A', 'a'.repeat(64), 'a'.repeat(65), 'x'.repeat(201), 'x'.repeat(2001),
  hex('a'), hex('A'), hex('a', 63), hex('a', 8), hex('a', 128), 'pass', 'fail', 'ota', 'device_report', 'boot_log_elf_sha256', 'SN-1', '-SN', 'SN 1', 'TOOL_FAILED', 'a:b', '24:0a:c4:ee:17:7a', '24:0A:C4:EE:17:7A',
  '2026-03-02T08:00:00.000Z', '2026-03-02T08:00:00Z', '2026-02-30T08:00:00.000Z', '0b6c3b9e-5f0f-4a43-9d2c-8f1e2a7c4d10', '0b6c3b9e-5f0f-0a43-9d2c-8f1e2a7c4d10', 'station', 'admin',
  [], [1], ['x'], {}, { name: 'SECURE_BOOT_EN', value: '1' }, '__proto__', 'constructor',
];

describe('schema predicates (schemas/predicate.ts)', () => {
  it('exist for every unit event type', () => {
    for (const type of UNIT_EVENT_TYPES) expect(shapes.get(type), type).toBeTypeOf('function');
  });

  it('say true of genuine events of every type and version, as safeParse does, with the event as its output', () => {
    const events = genuineUnitEvents();
    const seen = new Set(events.map((e) => `${e.type} v${e.schemaVersion}`));
    expect(seen.size).toBeGreaterThanOrEqual(22);
    for (const e of events) {
      const parsed = LedgerEventSchema.safeParse(e);
      expect(parsed.success, `${e.type}: ${parsed.error?.message}`).toBe(true);
      expect(parsed.data).toEqual(e);
      expect(test(e), `${e.type} v${e.schemaVersion}`).toBe(true);
    }
  });

  it('agree with safeParse on events changed at any member (property)', () => {
    const events = genuineUnitEvents();
    const how = fc.oneof(fc.constantFrom(...REPLACEMENTS).map((replace) => ({ replace })), fc.constant({ remove: true as const }), fc.constantFrom('zz', '__proto__', 'constructor', 'type').map((add) => ({ add })));
    let accepted = 0;
    fc.assert(
      fc.property(fc.nat(events.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), how, fc.boolean(), (i, where, change, twice) => {
        const event = events[i] as LedgerEvent;
        const paths = pathsOf(event);
        let value = changed(event, paths[Math.min(paths.length - 1, Math.floor(where * paths.length))] as (string | number)[], change);
        // Through JSON, as the fast reader meets values: a member named __proto__ is then an own member.
        value = JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
        if (twice) {
          const again = pathsOf(value);
          value = changed(value, again[Math.floor((1 - where) * (again.length - 1))] as (string | number)[], { replace: REPLACEMENTS[i % REPLACEMENTS.length] });
        }
        const parsed = LedgerEventSchema.safeParse(value);
        const shape = typeof value === 'object' && value !== null ? shapes.get((value as { type?: unknown }).type) : undefined;
        const verdict = shape ? shape(value) : false;
        expect(verdict, JSON.stringify(value)).toBe(parsed.success);
        if (verdict) {
          accepted++;
          expect(parsed.data).toEqual(value);
        }
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  it('are missing, not wrong, for schemas with parts they do not understand', () => {
    for (const schema of [z.object({ a: z.string() }), z.looseObject({ a: z.string() }), z.string().trim(), z.email(), z.string().transform((s) => s.length), z.number().multipleOf(2), z.string().default('x'), z.record(z.string(), z.string()), z.strictObject({ a: z.email() })]) {
      expect(predicateOf(schema)).toBeNull();
    }
    const strict = predicateOf(z.strictObject({ a: z.int().min(1).max(3), b: z.string().length(2).optional(), c: z.enum(['x', 'y']).nullable() }).refine((o) => o.a !== 2)) as Predicate;
    expect([{ a: 1, c: null }, { a: 3, b: 'ab', c: 'x' }].map(strict)).toEqual([true, true]);
    expect([{ a: 2, c: null }, { a: 1 }, { a: 1, c: null, d: 1 }, { a: 1.5, c: null }, { a: 1, b: 'abc', c: null }, { a: 1, c: 'z' }, [1], null].map(strict)).toEqual([false, false, false, false, false, false, false, false]);
  });
});
