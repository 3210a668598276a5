/**
 * A zod schema as a plain predicate: `predicateOf(schema)(value)` is true only where `schema.safeParse(value)`
 * succeeds with output equal to `value` itself. Built once from the schema's definition, for the hot paths that
 * check millions of values of a known shape (an export's events): a call costs a few hundred nanoseconds where
 * safeParse costs several microseconds, and the schemas stay the one definition of the shapes.
 *
 * Only the part of zod the schemas use is understood: strict objects (with refinements), strings (length, regex,
 * uuid and datetime formats), safe integers and finite numbers with bounds, booleans, literals, enums, arrays with
 * lengths, optional, nullable, unions and discriminated unions. For a schema with anything else in it, or a check
 * that is not exactly one of those, `predicateOf` returns null and the caller keeps safeParse: a predicate may be
 * missing, never looser (test/schema-predicate.unit.test.ts holds it to safeParse on genuine and changed values).
 */
import type { z } from 'zod';

export type Predicate = (value: unknown) => boolean;

/** The parts of zod's internal definitions read here (zod 4's `_zod.def`). */
interface Def {
  readonly type: string;
  readonly check?: string;
  readonly format?: string;
  readonly pattern?: RegExp;
  readonly checks?: readonly { readonly _zod: { readonly def: CheckDef } }[];
  readonly shape?: Readonly<Record<string, Schema>>;
  readonly catchall?: Schema;
  readonly element?: Schema;
  readonly innerType?: Schema;
  readonly options?: readonly Schema[];
  readonly discriminator?: string;
  readonly entries?: Readonly<Record<string, unknown>>;
  readonly values?: readonly unknown[];
  readonly when?: unknown;
}
interface CheckDef {
  readonly check: string;
  readonly format?: string;
  readonly pattern?: RegExp;
  readonly value?: unknown;
  readonly inclusive?: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly length?: number;
  readonly fn?: (value: unknown) => unknown;
  readonly when?: unknown;
}
interface Schema {
  readonly _zod: { readonly def: Def };
}

const LENGTH_CHECKS = new Set(['min_length', 'max_length', 'length_equals']);

/** String formats whose zod check is their pattern and nothing else. */
const PATTERN_FORMATS = new Set(['regex', 'uuid', 'datetime']);

export function predicateOf(schema: z.ZodType): Predicate | null {
  return compile(schema as unknown as Schema);
}

function compile(schema: Schema): Predicate | null {
  const def = schema._zod.def;
  const checks = (def.checks ?? []).map((c) => c._zod.def);
  // zod gives its length checks a `when` (the value has a length), true of every string and array they meet here.
  if (def.when !== undefined || checks.some((c) => c.when !== undefined && !LENGTH_CHECKS.has(c.check))) return null;
  switch (def.type) {
    case 'string':
      return stringPredicate(def, checks);
    case 'number':
      return numberPredicate(def, checks);
    case 'boolean':
      return checks.length === 0 ? (v) => typeof v === 'boolean' : null;
    case 'literal': {
      const values = def.values ?? [];
      if (checks.length > 0 || !values.every((v) => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || v === null)) return null;
      const set = new Set<unknown>(values);
      return (v) => set.has(v);
    }
    case 'enum': {
      const values = Object.values(def.entries ?? {});
      if (checks.length > 0 || !values.every((v) => typeof v === 'string')) return null;
      const set = new Set<unknown>(values);
      return (v) => set.has(v);
    }
    case 'optional':
    case 'nullable': {
      const inner = def.innerType && compile(def.innerType);
      if (!inner || checks.length > 0) return null;
      // Optional: a member that is absent is the object's concern (JSON has no undefined value).
      return def.type === 'nullable' ? (v) => v === null || inner(v) : inner;
    }
    case 'array':
      return arrayPredicate(def, checks);
    case 'object':
      return objectPredicate(def, checks);
    case 'union':
      return unionPredicate(def, checks);
    default:
      return null;
  }
}

/** Length bounds of a string or an array; null if a check is of another kind. */
function lengthBounds(checks: readonly CheckDef[], also: (c: CheckDef) => boolean = () => false): { min: number; max: number } | null {
  let min = 0;
  let max = Infinity;
  for (const c of checks) {
    if (c.check === 'min_length' && typeof c.minimum === 'number') min = Math.max(min, c.minimum);
    else if (c.check === 'max_length' && typeof c.maximum === 'number') max = Math.min(max, c.maximum);
    else if (c.check === 'length_equals' && typeof c.length === 'number') [min, max] = [Math.max(min, c.length), Math.min(max, c.length)];
    else if (!also(c)) return null;
  }
  return { min, max };
}

function stringPredicate(def: Def, checks: readonly CheckDef[]): Predicate | null {
  const patterns: RegExp[] = [];
  const isPattern = (c: { check?: string; format?: string; pattern?: RegExp }) => c.check === 'string_format' && PATTERN_FORMATS.has(c.format ?? '') && c.pattern instanceof RegExp && !c.pattern.global && !c.pattern.sticky;
  // A format schema (z.uuid(), z.iso.datetime()) is its own check, its pattern on its definition.
  if (def.check !== undefined) {
    if (!isPattern(def)) return null;
    patterns.push(def.pattern as RegExp);
  }
  const bounds = lengthBounds(checks, (c) => {
    if (!isPattern(c)) return false;
    patterns.push(c.pattern as RegExp);
    return true;
  });
  if (!bounds) return null;
  const { min, max } = bounds;
  return (v) => {
    if (typeof v !== 'string' || v.length < min || v.length > max) return false;
    for (const p of patterns) if (!p.test(v)) return false;
    return true;
  };
}

function numberPredicate(def: Def, checks: readonly CheckDef[]): Predicate | null {
  let integer = false;
  if (def.check !== undefined) {
    if (def.check !== 'number_format' || def.format !== 'safeint') return null;
    integer = true;
  }
  const bounds: ((n: number) => boolean)[] = [];
  for (const c of checks) {
    const value = c.value;
    if (typeof value !== 'number' || typeof c.inclusive !== 'boolean') return null;
    if (c.check === 'greater_than') bounds.push(c.inclusive ? (n) => n >= value : (n) => n > value);
    else if (c.check === 'less_than') bounds.push(c.inclusive ? (n) => n <= value : (n) => n < value);
    else return null;
  }
  return (v) => {
    if (typeof v !== 'number' || !(integer ? Number.isSafeInteger(v) : Number.isFinite(v))) return false;
    for (const b of bounds) if (!b(v)) return false;
    return true;
  };
}

function arrayPredicate(def: Def, checks: readonly CheckDef[]): Predicate | null {
  const element = def.element && compile(def.element);
  const bounds = lengthBounds(checks);
  if (!element || !bounds) return null;
  const { min, max } = bounds;
  return (v) => {
    if (!Array.isArray(v) || v.length < min || v.length > max) return false;
    for (const e of v) if (!element(e)) return false;
    return true;
  };
}

/** A strict object (unknown members refused, so its output is its input), then its refinements on it. */
function objectPredicate(def: Def, checks: readonly CheckDef[]): Predicate | null {
  if (def.catchall?._zod.def.type !== 'never' || !def.shape) return null;
  const refinements: ((value: unknown) => unknown)[] = [];
  for (const c of checks) {
    if (c.check !== 'custom' || typeof c.fn !== 'function') return null;
    refinements.push(c.fn);
  }
  const members = new Map<string, { test: Predicate; optional: boolean }>();
  for (const [key, member] of Object.entries(def.shape)) {
    const test = compile(member);
    if (!test) return null;
    members.set(key, { test, optional: member._zod.def.type === 'optional' });
  }
  const required = [...members.values()].filter((m) => !m.optional).length;
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    let present = 0;
    for (const key in v) {
      if (!Object.hasOwn(v, key)) return false;
      const member = members.get(key);
      if (!member || !member.test((v as Record<string, unknown>)[key])) return false;
      if (!member.optional) present++;
    }
    if (present !== required) return false;
    for (const refine of refinements) {
      const ok = refine(v);
      if (ok !== true) return false;
    }
    return true;
  };
}

/** Any option; a discriminated union goes straight to the options its discriminator's value names. */
function unionPredicate(def: Def, checks: readonly CheckDef[]): Predicate | null {
  if (checks.length > 0 || !def.options || def.options.length === 0) return null;
  const options = def.options.map((o) => compile(o));
  if (options.some((o) => o === null)) return null;
  const tests = options as Predicate[];
  const key = def.discriminator;
  const byValue = key === undefined ? null : new Map<unknown, Predicate[]>();
  if (key !== undefined && byValue) {
    for (const [i, option] of def.options.entries()) {
      const values = discriminatorValues(option, key);
      if (!values) return (v) => tests.some((t) => t(v));
      for (const value of new Set(values)) byValue.set(value, [...(byValue.get(value) ?? []), tests[i] as Predicate]);
    }
  }
  if (!byValue || key === undefined) return (v) => tests.some((t) => t(v));
  return (v) => {
    if (typeof v !== 'object' || v === null) return false;
    const candidates = byValue.get((v as Record<string, unknown>)[key]);
    return candidates !== undefined && candidates.some((t) => t(v));
  };
}

/** The literal values an option's discriminator member can take (an object's literal, or a nested union's). */
function discriminatorValues(option: Schema, key: string): unknown[] | null {
  const def = option._zod.def;
  if (def.type === 'object') {
    const member = def.shape?.[key]?._zod.def;
    return member?.type === 'literal' ? [...(member.values ?? [])] : null;
  }
  if (def.type === 'union') {
    const all = (def.options ?? []).map((o) => discriminatorValues(o, key));
    return all.some((a) => a === null) ? null : (all as unknown[][]).flat();
  }
  return null;
}

/**
 * A discriminated union's options as predicates, by the value of their discriminator (`type` of a LedgerEvent):
 * for a caller that takes only some of them. An option predicateOf does not understand is null (safeParse it).
 */
export function predicatesByDiscriminator(schema: z.ZodType): Map<unknown, Predicate | null> {
  const def = (schema as unknown as Schema)._zod.def;
  const byValue = new Map<unknown, Predicate | null>();
  const key = def.discriminator;
  if (def.type !== 'union' || key === undefined) return byValue;
  for (const option of def.options ?? []) {
    const test = compile(option);
    for (const value of new Set(discriminatorValues(option, key) ?? [])) byValue.set(value, byValue.has(value) ? null : test);
  }
  return byValue;
}
