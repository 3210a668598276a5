/** Event data given on the command line: its schema issues said the way the ledger says them, and placeholders refused. */
import { z } from 'zod';

/**
 * Schema issues as one line, each naming its field from the event's root the way the ledger does
 * (`SCHEMA_INVALID: data.images[0].sha256: lowercase hex SHA-256 digest`); a missing member says so.
 */
export function schemaIssuesLine(issues: readonly z.core.$ZodIssue[], input: unknown, root = 'data'): string {
  const at = (path: readonly PropertyKey[]) => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
  const each = issues.map((i) => {
    const missing = i.path.length > 0 && at(i.path) === undefined;
    const expected = i.message.replace(/^Invalid (input|option): /, '').replace(/, received undefined$/, '');
    return `${z.core.toDotPath([root, ...i.path])}: ${missing ? `missing (${expected})` : i.message}`;
  });
  return `SCHEMA_INVALID: ${each.join('; ')}`;
}

/**
 * Digests no real content has: all zeros (or all one digit), the placeholders of templates and half-done
 * edits. Returns the path of the first, from the event's root (`data.images[1].sha256`), or null.
 */
export function placeholderDigest(value: unknown, path: (string | number)[] = ['data']): string | null {
  if (typeof value === 'string') return /^([0-9a-f])\1{63}(?:\1{64})?$/i.test(value) ? z.core.toDotPath(path) : null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = placeholderDigest(v, [...path, i]);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = placeholderDigest(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}
