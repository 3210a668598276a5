/**
 * CPE 2.3 names: the formatted string binding (NISTIR 7695 §6.2) parsed into its eleven attributes, and
 * name matching per NISTIR 7696 §6 (the CPE Name Matching specification): each attribute pair compares as
 * SUPERSET, SUBSET, EQUAL or DISJOINT (Table 6-2), and a source name matches a target when every pair is
 * EQUAL or SUPERSET. Values compare case-insensitively; `*` is ANY, `-` is NA; an unquoted `*` or `?`
 * inside a source value is a wildcard (multi-character, single-character). CPE 2.2 URIs (`cpe:/a:…`) are
 * read by their §6.1 binding into the same attributes.
 */
import { CraError } from './errors.ts';

export const CPE_ATTRIBUTES = ['part', 'vendor', 'product', 'version', 'update', 'edition', 'language', 'sw_edition', 'target_sw', 'target_hw', 'other'] as const;
export type CpeAttribute = (typeof CPE_ATTRIBUTES)[number];

/** ANY, NA, or a value (still escaped, lowercased; wildcards are the unescaped `*` and `?`). */
export type CpeValue = { kind: 'any' } | { kind: 'na' } | { kind: 'value'; text: string };
export type CpeName = Readonly<Record<CpeAttribute, CpeValue>>;

function splitFormatted(body: string, input: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === '\\') {
      const next = body[i + 1];
      if (next === undefined) throw new CraError('CPE_INVALID', 'trailing backslash', input);
      cur += ch + next;
      i++;
    } else if (ch === ':') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function valueOf(raw: string, input: string): CpeValue {
  if (raw === '*') return { kind: 'any' };
  if (raw === '-') return { kind: 'na' };
  if (raw === '') throw new CraError('CPE_INVALID', 'an empty attribute (use * or -)', input);
  return { kind: 'value', text: raw.toLowerCase() };
}

export function parseCpe(input: string): CpeName {
  if (input.length > 1024) throw new CraError('CPE_INVALID', 'longer than 1024 characters');
  let values: string[];
  if (input.startsWith('cpe:2.3:')) {
    values = splitFormatted(input.slice('cpe:2.3:'.length), input);
    if (values.length !== 11) throw new CraError('CPE_INVALID', `a CPE 2.3 formatted string has 11 attributes, this has ${values.length}`, input);
    if (!/^[aoh*-]$/.test(values[0] ?? '')) throw new CraError('CPE_INVALID', `part must be a, o or h, not "${values[0]}"`, input);
  } else if (/^cpe:\/[aoh]?/i.test(input)) {
    // CPE 2.2 URI: cpe:/part:vendor:product:version:update:edition:language; empty means ANY.
    const uri = input.slice('cpe:/'.length).split(':').map((p) => decodeURIComponent(p));
    values = Array.from({ length: 11 }, (_, i) => (i < 7 && uri[i] !== undefined && uri[i] !== '' ? (uri[i] as string).replace(/([^\w.-])/g, '\\$1') : '*'));
    if (values[0] === '\\-') values[0] = '-';
  } else {
    throw new CraError('CPE_INVALID', 'not a CPE name (cpe:2.3:… or cpe:/…)', input);
  }
  const name = {} as Record<CpeAttribute, CpeValue>;
  CPE_ATTRIBUTES.forEach((a, i) => (name[a] = valueOf(values[i] as string, input)));
  return name;
}

type Relation = 'SUPERSET' | 'SUBSET' | 'EQUAL' | 'DISJOINT' | 'UNDEFINED';

const hasWildcard = (text: string): boolean => /(^|[^\\])(\\\\)*[*?]/.test(text);

/** The source value with its unescaped wildcards as a regular expression over escaped target text. */
function wildcardRegex(source: string): RegExp {
  let re = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string;
    if (ch === '\\') {
      re += (source.slice(i, i + 2)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    } else if (ch === '*') re += '(?:\\\\.|[^\\\\])*';
    else if (ch === '?') re += '(?:\\\\.|[^\\\\])';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** NISTIR 7696 Table 6-2. */
export function compareAttribute(source: CpeValue, target: CpeValue): Relation {
  if (target.kind === 'value' && hasWildcard(target.text)) return 'UNDEFINED';
  if (source.kind === 'any') return target.kind === 'any' ? 'EQUAL' : 'SUPERSET';
  if (source.kind === 'na') return target.kind === 'any' ? 'SUBSET' : target.kind === 'na' ? 'EQUAL' : 'DISJOINT';
  if (target.kind === 'any') return 'SUBSET';
  if (target.kind === 'na') return 'DISJOINT';
  if (hasWildcard(source.text)) return wildcardRegex(source.text).test(target.text) ? 'SUPERSET' : 'DISJOINT';
  return source.text === target.text ? 'EQUAL' : 'DISJOINT';
}

/** Whether `source` (a query, wildcards allowed) matches `target` (a component's CPE): CPE_SUPERSET or EQUAL. */
export function cpeMatches(source: CpeName, target: CpeName, except: readonly CpeAttribute[] = []): boolean {
  return CPE_ATTRIBUTES.every((a) => {
    if (except.includes(a)) return true;
    const r = compareAttribute(source[a], target[a]);
    return r === 'EQUAL' || r === 'SUPERSET';
  });
}

/** A value's text without CPE escapes (`1.0\.1` → `1.0.1`), for comparing versions. */
export function unescapeCpe(value: CpeValue): string | undefined {
  return value.kind === 'value' ? value.text.replace(/\\(.)/g, '$1') : undefined;
}
