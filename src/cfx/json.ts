/**
 * CFX JSON as the SDK writes it (CFX.Utilities.CFXJsonSerializer, Newtonsoft.Json with its default settings):
 * members in the schema's order, nulls written, a C# double always with a decimal point (`0.0`), compact.
 * The value is validated against its zod schema first, so nothing the schema does not allow goes out.
 */
import type { z } from 'zod';

interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly options?: readonly z.ZodType[];
  readonly valueType?: z.ZodType;
  readonly format?: string;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Serialises `value` as CFX JSON; throws (a zod error naming the member) when the value breaks the schema. */
export function toCfxJson<S extends z.ZodType>(schema: S, value: z.input<S>): string {
  schema.parse(value);
  return write(schema, value);
}

function write(schema: z.ZodType, value: unknown): string {
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, z.ZodType>;
      const record = value as Record<string, unknown>;
      return `{${Object.entries(shape)
        .map(([key, member]) => `${JSON.stringify(key)}:${write(member, record[key])}`)
        .join(',')}}`;
    }
    case 'array':
      return `[${(value as unknown[]).map((item) => write(def.element as z.ZodType, item)).join(',')}]`;
    case 'nullable':
    case 'optional':
      return value === null || value === undefined ? 'null' : write(def.innerType as z.ZodType, value);
    case 'union': {
      const option = (def.options as z.ZodType[]).find((o) => o.safeParse(value).success);
      if (!option) throw new Error('no union member matches the value');
      return write(option, value);
    }
    case 'record': {
      const record = value as Record<string, unknown>;
      return `{${Object.keys(record)
        .map((key) => `${JSON.stringify(key)}:${write(def.valueType as z.ZodType, record[key])}`)
        .join(',')}}`;
    }
    case 'number':
      return def.format === 'safeint' ? String(value) : csharpDouble(value as number);
    default:
      return JSON.stringify(value);
  }
}

/**
 * A double as Newtonsoft writes it: the shortest round-trip form ("R"), with ".0" added when that has no decimal
 * point or exponent (`0.0`, `28.2`, `1E+21`).
 */
export function csharpDouble(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`${n} is not a finite double`);
  const text = String(n).replace(/e\+?/, 'E+').replace('E+-', 'E-');
  return /[.E]/.test(text) ? text : `${text}.0`;
}

/**
 * A point in time as Newtonsoft writes a DateTime ("yyyy-MM-ddTHH:mm:ss.FFFFFFFK"): fraction digits without
 * trailing zeros (none when it is whole), and the offset `+00:00`, as the SDK writes a local time on a UTC host.
 * The input is the ledger's own form (RFC 3339 UTC).
 */
export function cfxDateTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(iso);
  if (!match) throw new Error(`${iso} is not an RFC 3339 UTC time`);
  const fraction = (match[2] ?? '').slice(0, 7).replace(/0+$/, '');
  return `${match[1] as string}${fraction ? `.${fraction}` : ''}+00:00`;
}
