/**
 * "Which components are mbedTLS 3.x before 3.5.2?": selectors by purl, CPE 2.3, or name, each with an
 * optional version range, and the verdict for one component. A range is either a VERS (`vers:semver/…`,
 * see vers.ts) or a node-semver range (`>=3.0.0 <3.5.2`, pre-releases included: a pre-release of a
 * vulnerable line is vulnerable). A component whose identity matches but whose version cannot be compared
 * under the range's scheme is reported as `incomparable` with the reason, never silently dropped: on the
 * day a CVE lands an unknown is an answer the operator must see.
 */
import semver from 'semver';
import type { Component } from './component.ts';
import { cpeMatches, parseCpe, unescapeCpe, type CpeName } from './cpe.ts';
import { CraError } from './errors.ts';
import { parsePurl, purlIdentity, type Purl } from './purl.ts';
import { parseVersStrict, versContains, type Vers } from './vers.ts';

export type ComponentSelector =
  | { readonly kind: 'purl'; readonly purl: string; readonly range?: string }
  | { readonly kind: 'cpe'; readonly cpe: string; readonly range?: string }
  | { readonly kind: 'name'; readonly name: string; readonly group?: string; readonly range?: string };

type Range = { kind: 'vers'; vers: Vers; text: string } | { kind: 'semver'; range: semver.Range; text: string };

export interface CompiledSelector {
  readonly selector: ComponentSelector;
  readonly range?: Range;
  readonly purl?: Purl;
  readonly cpe?: CpeName;
}

export type MatchVerdict =
  | { readonly matched: false }
  | { readonly matched: true; readonly via: string; readonly version?: string }
  | { readonly matched: 'incomparable'; readonly via: string; readonly version?: string; readonly reason: string };

function compileRange(text: string): Range {
  if (text.startsWith('vers:')) return { kind: 'vers', vers: parseVersStrict(text), text };
  const valid = semver.validRange(text, { loose: false, includePrerelease: true });
  if (valid === null) throw new CraError('SELECTOR_INVALID', `"${text}" is neither a vers: range nor a node-semver range`);
  return { kind: 'semver', range: new semver.Range(text, { loose: false, includePrerelease: true }), text };
}

export function compileSelector(selector: ComponentSelector): CompiledSelector {
  const range = selector.range !== undefined && selector.range !== '' ? compileRange(selector.range) : undefined;
  switch (selector.kind) {
    case 'purl': {
      const purl = parsePurl(selector.purl);
      if (purl.version !== undefined && range !== undefined) throw new CraError('SELECTOR_INVALID', 'give either a purl with a version or a range, not both');
      return { selector, purl, ...(range ? { range } : {}) };
    }
    case 'cpe':
      return { selector, cpe: parseCpe(selector.cpe), ...(range ? { range } : {}) };
    case 'name':
      if (selector.name.trim() === '') throw new CraError('SELECTOR_INVALID', 'an empty component name');
      return { selector, ...(range ? { range } : {}) };
  }
}

function inRange(range: Range, version: string): { ok: boolean } | { reason: string } {
  if (range.kind === 'vers') {
    try {
      return { ok: versContains(range.vers, version) };
    } catch (e) {
      if (e instanceof CraError) return { reason: e.message };
      throw e;
    }
  }
  if (!/^[0-9]/.test(version) || semver.valid(version, { loose: false }) === null) return { reason: `"${version}" is not a SemVer 2.0.0 version, so ${range.text} cannot order it` };
  return { ok: range.range.test(version) };
}

function verdict(range: Range | undefined, via: string, version: string | undefined): MatchVerdict {
  if (range === undefined) return { matched: true, via, ...(version ? { version } : {}) };
  if (version === undefined) return { matched: 'incomparable', via, reason: 'the component has no version' };
  const r = inRange(range, version);
  if ('reason' in r) return { matched: 'incomparable', via, version, reason: r.reason };
  return r.ok ? { matched: true, via, version } : { matched: false };
}

export function matchComponent(compiled: CompiledSelector, component: Component): MatchVerdict {
  const { selector, range } = compiled;
  if (selector.kind === 'purl' && compiled.purl) {
    const want = compiled.purl;
    const identity = purlIdentity(want);
    for (const text of component.purls) {
      let have: Purl;
      try {
        have = parsePurl(text);
      } catch {
        continue;
      }
      if (purlIdentity(have) !== identity) continue;
      if (!Object.entries(want.qualifiers).every(([k, v]) => have.qualifiers[k] === v)) continue;
      const version = have.version ?? component.version;
      if (want.version !== undefined) return version === want.version ? { matched: true, via: text, version } : { matched: false };
      const v = verdict(range, text, version);
      if (v.matched !== false) return v;
    }
    return { matched: false };
  }
  if (selector.kind === 'cpe' && compiled.cpe) {
    let incomparable: MatchVerdict | undefined;
    for (const text of component.cpes) {
      let have: CpeName;
      try {
        have = parseCpe(text);
      } catch {
        continue;
      }
      // With a range, the version attribute is judged by the range, not by CPE matching.
      if (!cpeMatches(compiled.cpe, have, range ? ['version'] : [])) continue;
      const v = verdict(range, text, unescapeCpe(have.version) ?? component.version);
      if (v.matched === true) return v;
      if (v.matched === 'incomparable') incomparable ??= v;
    }
    return incomparable ?? { matched: false };
  }
  if (selector.kind === 'name') {
    if (component.name.toLowerCase() !== selector.name.toLowerCase()) return { matched: false };
    if (selector.group !== undefined && (component.group ?? '').toLowerCase() !== selector.group.toLowerCase()) return { matched: false };
    return verdict(range, `name ${component.name}`, component.version);
  }
  return { matched: false };
}

export interface SbomMatch {
  readonly ref: string;
  readonly name: string;
  readonly version?: string;
  readonly via: string;
}

export interface SbomMatches {
  readonly matches: readonly SbomMatch[];
  readonly incomparable: readonly (SbomMatch & { readonly reason: string })[];
}

/** All components of a list that a selector matches, and those it could not judge. */
export function matchComponents(selector: ComponentSelector, components: readonly Component[]): SbomMatches {
  const compiled = compileSelector(selector);
  const matches: SbomMatch[] = [];
  const incomparable: (SbomMatch & { reason: string })[] = [];
  for (const c of components) {
    const v = matchComponent(compiled, c);
    if (v.matched === false) continue;
    const base = { ref: c.ref, name: c.name, ...(v.version ? { version: v.version } : {}), via: v.via };
    if (v.matched === true) matches.push(base);
    else incomparable.push({ ...base, reason: v.reason });
  }
  return { matches, incomparable };
}
