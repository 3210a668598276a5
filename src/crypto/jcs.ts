/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * ECMAScript's JSON.stringify already serialises numbers and strings exactly as RFC 8785 §3.2.2
 * requires, so the work left is sorting object members by UTF-16 code units and refusing what has no
 * canonical form: values with no JSON form (undefined, functions, non-finite numbers, bigint), strings
 * that are not I-JSON (RFC 7493: lone surrogates, which RFC 8785 §3.1 excludes), and nesting deeper than
 * `maxDepth` (a bound, so that hostile input cannot exhaust the stack).
 */
export class CanonicalizationError extends Error {
  override readonly name = 'CanonicalizationError';
  constructor(
    readonly reason: string,
    /** JSONPath-like location of the offending value, e.g. `$.data.fuses[2]`. */
    readonly path: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

export const DEFAULT_MAX_DEPTH = 64;

/**
 * Objects whose RFC 8785 text the caller already holds (an envelope read back as the canonical bytes the store
 * keeps): serialized as that text, not walked again. The caller vouches that each text is the object's form.
 */
export type KnownCanonical = ReadonlyMap<object, string>;

export function canonicalize(value: unknown, maxDepth = DEFAULT_MAX_DEPTH, known?: KnownCanonical): string {
  try {
    return serialize(value, 0, maxDepth, known);
  } catch (error) {
    if (error instanceof LocatedFailure) throw new CanonicalizationError(error.reason, '$' + error.path.reverse().join(''));
    throw error;
  }
}

export function canonicalBytes(value: unknown, maxDepth = DEFAULT_MAX_DEPTH): Uint8Array {
  return new TextEncoder().encode(canonicalize(value, maxDepth));
}

/** Thrown inside the recursion; the path is collected while unwinding, so the happy path builds no strings. */
class LocatedFailure {
  readonly path: string[] = [];
  constructor(readonly reason: string) {}
}

const isWellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();

function string(value: string): string {
  if (!isWellFormed(value)) throw new LocatedFailure('string holds a lone surrogate (not I-JSON, RFC 7493)');
  return JSON.stringify(value);
}

/**
 * Member names as `string` writes them, remembered: the same few names recur in every event, record and proof,
 * and a hot path (export writing and verifying, the envelope decoder) serializes millions. Only well-formed
 * names are kept, so a lone surrogate is refused each time; the bound keeps hostile inputs from growing it.
 */
const memberNames = new Map<string, string>();
function memberName(name: string): string {
  const known = memberNames.get(name);
  if (known !== undefined) return known;
  const text = string(name);
  if (memberNames.size < 4096 && name.length <= 64) memberNames.set(name, text);
  return text;
}

function serialize(value: unknown, depth: number, maxDepth: number, known: KnownCanonical | undefined): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return string(value);
    case 'number':
      if (!Number.isFinite(value)) throw new LocatedFailure(`${value} has no JSON form`);
      return JSON.stringify(value);
    case 'object': {
      if (depth >= maxDepth) throw new LocatedFailure(`nested deeper than ${maxDepth} levels`);
      const text = known?.get(value);
      if (text !== undefined) return text;
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          try {
            out += (i > 0 ? ',' : '') + serialize(value[i], depth + 1, maxDepth, known);
          } catch (error) {
            if (error instanceof LocatedFailure) error.path.push(`[${i}]`);
            throw error;
          }
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new LocatedFailure('only plain objects can be canonicalized');
      const record = value as Record<string, unknown>;
      // Array.prototype.sort without a comparator compares UTF-16 code units, as RFC 8785 §3.2.3 asks.
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        try {
          out += (i > 0 ? ',' : '') + memberName(k) + ':' + serialize(record[k], depth + 1, maxDepth, known);
        } catch (error) {
          if (error instanceof LocatedFailure) error.path.push(`.${k}`);
          throw error;
        }
      }
      return out + '}';
    }
    default:
      throw new LocatedFailure(`${typeof value} has no JSON form`);
  }
}

/**
 * Nesting depth of JSON text, counted without parsing it (brackets outside strings), so that a hostile
 * payload is refused before any recursive code sees it.
 */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
