/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * ECMAScript's JSON.stringify already serialises numbers and strings exactly as RFC 8785 §3.2.2
 * requires, so the only work left is sorting object members by UTF-16 code units and refusing values
 * that have no JSON form (undefined, functions, non-finite numbers, bigint).
 */
export class CanonicalizationError extends Error {
  override readonly name = 'CanonicalizationError';
}

export function canonicalize(value: unknown): string {
  return serialize(value, '$');
}

export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value));
}

function serialize(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalizationError(`${path}: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => serialize(item, `${path}[${i}]`)).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalizationError(`${path}: only plain objects can be canonicalized`);
      }
      const record = value as Record<string, unknown>;
      // Array.prototype.sort without a comparator compares UTF-16 code units, as RFC 8785 §3.2.3 asks.
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      const members = keys.map((k) => `${JSON.stringify(k)}:${serialize(record[k], `${path}.${k}`)}`);
      return `{${members.join(',')}}`;
    }
    default:
      throw new CanonicalizationError(`${path}: ${typeof value} has no JSON form`);
  }
}
