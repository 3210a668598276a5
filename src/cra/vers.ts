/**
 * VERS, the purl project's version range specifier (`vers:semver/>=3.0.0|<3.6.1`), parsed, validated and
 * checked for containment exactly as the specification's text says:
 * https://github.com/package-url/vers-spec (docs/specification/standard/specification.md, how-to-parse.md).
 * Its own test vectors are vendored in test/vectors/vers/.
 *
 * - Parsing is strict: a VERS must already be canonical (lowercase scheme and type, no whitespace, no
 *   leading, trailing or doubled pipe, constraints sorted by version with each version once, canonical
 *   percent-encoding, valid comparator sequence). Nothing is normalised silently.
 * - Versions are compared by the type's scheme. Supported: `semver`, `npm`, `cargo` (SemVer 2.0.0 via
 *   node-semver, strict), `golang` (SemVer with the mandatory `v`), `intdot`, `lexicographic` (UTF-8
 *   byte order), `datetime` (RFC 3339 instants), `generic` (see `compareGeneric`), `all` and `none`.
 *   Any other type is refused with VERS_TYPE_UNSUPPORTED rather than compared wrongly.
 */
import semver from 'semver';
import { CraError } from './errors.ts';

export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | '*';

export interface VersConstraint {
  readonly comparator: Comparator;
  /** Percent-decoded version; empty for `*`. */
  readonly version: string;
}

export interface Vers {
  readonly type: string;
  readonly constraints: readonly VersConstraint[];
}

export interface VersionScheme {
  /** Throws VERSION_INVALID when `version` is not a version of this scheme. */
  validate(version: string): void;
  compare(a: string, b: string): number;
}

const MAX_VERS_LENGTH = 4096;
const MAX_CONSTRAINTS = 256;

// ---------------------------------------------------------------------------------------------------------
// Version schemes

function invalidVersion(type: string, version: string, why: string): CraError {
  return new CraError('VERSION_INVALID', `"${version}" is not a ${type} version: ${why}`);
}

function semverScheme(type: string, prefix = ''): VersionScheme {
  const strip = (v: string): string => {
    if (prefix !== '' && !v.startsWith(prefix)) throw invalidVersion(type, v, `it must start with "${prefix}"`);
    const bare = v.slice(prefix.length);
    // node-semver accepts a leading "v" or "=" even when strict; SemVer 2.0.0 does not.
    if (!/^[0-9]/.test(bare) || semver.valid(bare, { loose: false }) === null) throw invalidVersion(type, v, 'not SemVer 2.0.0');
    return bare;
  };
  return {
    validate: (v) => void strip(v),
    compare: (a, b) => semver.compare(strip(a), strip(b), { loose: false }),
  };
}

const intdot: VersionScheme = {
  validate: (v) => {
    if (!/^[0-9]+(\.[0-9]+)*/.test(v)) throw invalidVersion('intdot', v, 'it must start with digits');
  },
  compare: (a, b) => {
    // "Interpretation of the version should stop at the first character that is not a digit or a dot."
    const parts = (v: string): bigint[] => (/^[0-9.]*/.exec(v)?.[0] ?? '').split('.').filter((p) => p !== '').map((p) => BigInt(p));
    const pa = parts(a);
    const pb = parts(b);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const x = pa[i] ?? 0n;
      const y = pb[i] ?? 0n;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  },
};

/** UTF-8 byte order is code point order (which JavaScript's UTF-16 `<` is not, for astral characters). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

const lexicographic: VersionScheme = { validate: () => undefined, compare: compareCodePoints };

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function instant(v: string): { ms: number; fraction: string } {
  const m = RFC3339.exec(v);
  if (m === null) throw invalidVersion('datetime', v, 'not an RFC 3339 date-time with uppercase T and Z');
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
  if (Number.isNaN(ms)) throw invalidVersion('datetime', v, 'not a valid date-time');
  // Fractions beyond milliseconds are compared as digits, so no precision is lost.
  return { ms, fraction: (m[7] ?? '.').slice(1).replace(/0+$/, '') };
}

const datetime: VersionScheme = {
  validate: (v) => void instant(v),
  compare: (a, b) => {
    const x = instant(a);
    const y = instant(b);
    if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
    const width = Math.max(x.fraction.length, y.fraction.length);
    const fx = x.fraction.padEnd(width, '0');
    const fy = y.fraction.padEnd(width, '0');
    return fx === fy ? 0 : fx < fy ? -1 : 1;
  },
};

/**
 * `generic`: the specification says only that its algorithm "will be specified later, likely based on a
 * split on any wholly alpha or wholly numeric segments and dealing with digit and string comparisons,
 * similar to libversion". Until it is, this is that: a version is split into runs of digits and runs of
 * letters (other characters separate); numbers compare numerically and a missing number is 0 (2.2 = 2.2.0);
 * a pre-release word (alpha, beta, pre, rc, dev, snapshot) sorts before the release, any other letter run
 * (OpenSSL's 1.1.1a, a -p1 patch level) after it; a leading `v` is ignored. `3.6.1rc1` < `v3.6.1` < `3.6.1a`.
 */
export function compareGeneric(a: string, b: string): number {
  type Part = { kind: 'num'; n: bigint } | { kind: 'pre' | 'post'; s: string };
  const split = (v: string): Part[] => {
    const body = /^[vV](?=\d)/.test(v) ? v.slice(1) : v;
    const parts: Part[] = [];
    for (const m of body.matchAll(/(\d+)|([A-Za-z]+)/g)) {
      if (m[1] !== undefined) parts.push({ kind: 'num', n: BigInt(m[1]) });
      else {
        const s = (m[2] ?? '').toLowerCase();
        const pre = /^(alpha|beta|pre|rc|dev|snapshot)$/.test(s);
        parts.push({ kind: pre ? 'pre' : 'post', s });
      }
    }
    return parts;
  };
  const rank = (p: Part | undefined): number => (p === undefined ? 1 : p.kind === 'pre' ? 0 : p.kind === 'num' ? 2 : 3);
  const pa = split(a);
  const pb = split(b);
  const zero: Part = { kind: 'num', n: 0n };
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    // A missing numeric part is a zero (2.2 = 2.2.0); a missing part against a word is the release itself.
    const x = pa[i] ?? (pb[i]?.kind === 'num' ? zero : undefined);
    const y = pb[i] ?? (pa[i]?.kind === 'num' ? zero : undefined);
    const rx = rank(x);
    const ry = rank(y);
    if (rx !== ry) return rx < ry ? -1 : 1;
    if (x === undefined || y === undefined) continue;
    if (x.kind === 'num' && y.kind === 'num') {
      if (x.n !== y.n) return x.n < y.n ? -1 : 1;
    } else if (x.kind !== 'num' && y.kind !== 'num' && x.s !== y.s) {
      return x.s < y.s ? -1 : 1;
    }
  }
  return 0;
}

const generic: VersionScheme = {
  validate: (v) => {
    if (!/[0-9A-Za-z]/.test(v)) throw invalidVersion('generic', v, 'it has no digits or letters');
  },
  compare: compareGeneric,
};

const SCHEMES: Record<string, VersionScheme> = {
  semver: semverScheme('semver'),
  npm: semverScheme('npm'),
  cargo: semverScheme('cargo'),
  golang: semverScheme('golang', 'v'),
  intdot,
  lexicographic,
  datetime,
  generic,
};

export const SUPPORTED_VERS_TYPES = [...Object.keys(SCHEMES), 'all', 'none'].sort();

export function versionScheme(type: string): VersionScheme {
  const scheme = SCHEMES[type];
  if (scheme === undefined) {
    throw new CraError('VERS_TYPE_UNSUPPORTED', `vers type "${type}" is not supported (supported: ${SUPPORTED_VERS_TYPES.join(', ')})`);
  }
  return scheme;
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

function invalid(why: string, input: string): CraError {
  return new CraError('VERS_INVALID', `non-canonical VERS: ${why}`, input.length > 200 ? `${input.slice(0, 200)}…` : input);
}

const MUST_ENCODE = /[><=!*|%]/;

/** Percent-decodes once, refusing invalid triplets and non-canonical encoding (lowercase hex, needless escapes). */
function decodeVersion(raw: string, input: string): string {
  if (!raw.includes('%')) return raw;
  let out = '';
  const bytes: number[] = [];
  const flush = (): void => {
    if (bytes.length === 0) return;
    try {
      out += new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
    } catch {
      throw invalid('invalid percent-encoding in version', input);
    }
    bytes.length = 0;
  };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? '';
    if (ch !== '%') {
      flush();
      out += ch;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw invalid('invalid percent-encoding in version', input);
    if (hex !== hex.toUpperCase()) throw invalid('percent-encoding in version is not canonical', input);
    const byte = Number.parseInt(hex, 16);
    // Only characters that must be encoded (and non-ASCII bytes) may appear encoded.
    if (byte < 0x80 && !MUST_ENCODE.test(String.fromCharCode(byte))) {
      throw invalid(byte === 0x3a ? 'datetime time colons must be unencoded' : 'percent-encoding in version is not canonical', input);
    }
    bytes.push(byte);
    i += 2;
  }
  flush();
  return out;
}

function splitComparator(text: string): { comparator: Comparator; rest: string } {
  for (const c of ['>=', '<=', '!=', '<', '>', '='] as const) {
    if (text.startsWith(c)) return { comparator: c, rest: text.slice(c.length) };
  }
  return { comparator: '=', rest: text };
}

/** Parses and validates a canonical VERS string; throws VERS_INVALID or VERS_TYPE_UNSUPPORTED. */
export function parseVers(input: string): Vers {
  if (input.length > MAX_VERS_LENGTH) throw invalid(`longer than ${MAX_VERS_LENGTH} characters`, input);
  if (/\s/.test(input)) throw invalid('whitespace is not permitted', input);
  if (/[^\x21-\x7e]/.test(input)) throw invalid('only printable ASCII is permitted', input);
  const colon = input.indexOf(':');
  if (colon < 0) throw invalid('missing "vers:" scheme', input);
  const scheme = input.slice(0, colon);
  if (scheme !== 'vers') throw invalid(scheme.toLowerCase() === 'vers' ? 'the scheme must be lowercase' : `the scheme must be "vers", not "${scheme}"`, input);
  const spec = input.slice(colon + 1);
  const slash = spec.indexOf('/');
  if (slash < 0) throw invalid('missing "/" after the type', input);
  const type = spec.slice(0, slash);
  if (!/^[A-Za-z][A-Za-z0-9.-]*$/.test(type)) throw invalid(`"${type}" is not a valid type`, input);
  if (type !== type.toLowerCase()) throw invalid('the type must be lowercase', input);
  const body = spec.slice(slash + 1);
  if (body === '') throw invalid('constraints must not be empty', input);
  if (body === '*') return { type, constraints: [{ comparator: '*', version: '' }] };
  if (type === 'all' || type === 'none') throw invalid(`"vers:${type}/*" is the only valid form of type ${type}`, input);
  if (body.startsWith('|')) throw invalid('leading pipe is not permitted', input);
  if (body.endsWith('|')) throw invalid('trailing pipe is not permitted', input);
  if (body.includes('||')) throw invalid('consecutive pipes are not permitted', input);
  const parts = body.split('|');
  if (parts.length > MAX_CONSTRAINTS) throw invalid(`more than ${MAX_CONSTRAINTS} constraints`, input);
  const constraints: VersConstraint[] = parts.map((part) => {
    if (part.includes('*')) throw invalid('"*" must be used alone', input);
    const { comparator, rest } = splitComparator(part);
    if (comparator === '=' && part.startsWith('=')) throw invalid('the "=" comparator is implied and not written', input);
    if (rest === '') throw invalid('a constraint has an empty version', input);
    return { comparator, version: decodeVersion(rest, input) };
  });
  // Datetime canonical form is checked before the scheme sees it, for the specific message.
  if (type === 'datetime' && constraints.some((c) => /\d[tz]|[tz]$/.test(c.version))) throw invalid('datetime must use uppercase T and Z', input);
  const scheme_ = versionScheme(type);
  // Versions are validated by their scheme where the order check needs them, and always by
  // `validateVersVersions` and `versContains`; the specification's parse vectors accept a lone
  // constraint whose version its type would refuse (`vers:npm/1.0%252F0`).
  const compare = (a: string, b: string): number => {
    try {
      return scheme_.compare(a, b);
    } catch (e) {
      if (e instanceof CraError) throw new CraError('VERS_INVALID', `non-canonical VERS: ${e.message}`, input);
      throw e;
    }
  };
  for (let i = 1; i < constraints.length; i++) {
    const order = compare((constraints[i - 1] as VersConstraint).version, (constraints[i] as VersConstraint).version);
    if (order === 0) throw invalid('versions must be unique', input);
    if (order > 0) throw invalid('constraints are not sorted by version', input);
  }
  checkComparatorSequence(constraints, input);
  return { type, constraints };
}

/** The specification's rules on contiguous comparators, which rule out empty and redundant ranges. */
function checkComparatorSequence(constraints: readonly VersConstraint[], input: string): void {
  const notUnequal = constraints.filter((c) => c.comparator !== '!=');
  for (let i = 1; i < notUnequal.length; i++) {
    const prev = (notUnequal[i - 1] as VersConstraint).comparator;
    const cur = (notUnequal[i] as VersConstraint).comparator;
    if (prev === '=' && !(cur === '=' || cur === '>' || cur === '>=')) throw invalid(`"=" may be followed only by "=", ">" or ">=", not "${cur}"`, input);
  }
  const bounds = notUnequal.filter((c) => c.comparator !== '=');
  for (let i = 1; i < bounds.length; i++) {
    const prevLess = (bounds[i - 1] as VersConstraint).comparator.startsWith('<');
    const curLess = (bounds[i] as VersConstraint).comparator.startsWith('<');
    if (prevLess === curLess) throw invalid('"<"/"<=" and ">"/">=" constraints must alternate', input);
  }
}

/** Every version of the range is valid under its type's scheme (VERS_INVALID naming the first that is not). */
export function validateVersVersions(vers: Vers): void {
  if (vers.constraints[0]?.comparator === '*') return;
  const scheme = versionScheme(vers.type);
  for (const c of vers.constraints) {
    try {
      scheme.validate(c.version);
    } catch (e) {
      if (e instanceof CraError) throw new CraError('VERS_INVALID', `invalid VERS: ${e.message}`, formatVers(vers));
      throw e;
    }
  }
}

/** Parses a VERS and validates each of its versions under its type: what a selector should use. */
export function parseVersStrict(input: string): Vers {
  const vers = parseVers(input);
  validateVersVersions(vers);
  return vers;
}

// ---------------------------------------------------------------------------------------------------------
// Containment

/** Whether `version` is within `vers`, by the how-to-parse.md algorithm. Throws VERSION_INVALID. */
export function versContains(vers: Vers, version: string): boolean {
  const first = vers.constraints[0];
  if (first?.comparator === '*') return vers.type !== 'none';
  validateVersVersions(vers);
  const scheme = versionScheme(vers.type);
  scheme.validate(version);
  const cmp = (v: string): number => scheme.compare(version, v);
  for (const c of vers.constraints) {
    if ((c.comparator === '=' || c.comparator === '<=' || c.comparator === '>=') && cmp(c.version) === 0) return true;
    if (c.comparator === '!=' && cmp(c.version) === 0) return false;
  }
  const bounds = vers.constraints.filter((c) => c.comparator !== '=' && c.comparator !== '!=');
  if (bounds.length === 0) return false;
  if (bounds.length === 1) {
    const only = bounds[0] as VersConstraint;
    return only.comparator.startsWith('<') ? cmp(only.version) < 0 : cmp(only.version) > 0;
  }
  for (let i = 0; i + 1 < bounds.length; i++) {
    const current = bounds[i] as VersConstraint;
    const next = bounds[i + 1] as VersConstraint;
    if (i === 0 && current.comparator.startsWith('<') && cmp(current.version) < 0) return true;
    if (i + 2 === bounds.length && next.comparator.startsWith('>') && cmp(next.version) > 0) return true;
    if (current.comparator.startsWith('>') && next.comparator.startsWith('<') && cmp(current.version) > 0 && cmp(next.version) < 0) return true;
  }
  return false;
}

/** The canonical string of a parsed VERS (what `parseVers` accepts back). */
export function formatVers(vers: Vers): string {
  const encode = (v: string): string =>
    [...v].map((ch) => (MUST_ENCODE.test(ch) ? `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : ch)).join('');
  const body = vers.constraints.map((c) => (c.comparator === '*' ? '*' : `${c.comparator === '=' ? '' : c.comparator}${encode(c.version)}`)).join('|');
  return `vers:${vers.type}/${body}`;
}
