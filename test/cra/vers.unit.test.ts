/**
 * VERS against the specification's own test vectors (test/vectors/vers/, from package-url/vers-spec) and
 * the containment rules of its how-to-parse.md, on the version types firmware components use.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CraError } from '../../src/cra/errors.ts';
import { compareGeneric, formatVers, parseVers, parseVersStrict, versContains, versionScheme } from '../../src/cra/vers.ts';

interface VersTest {
  description: string;
  test_type: string;
  input: unknown;
  expected_output?: unknown;
  expected_failure?: boolean;
  expected_message?: string;
}
const vectors = (file: string): VersTest[] =>
  (JSON.parse(readFileSync(new URL(`../vectors/vers/${file}`, import.meta.url), 'utf8')) as { tests: VersTest[] }).tests;

function failure(fn: () => unknown): CraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CraError) return e;
    throw e;
  }
  throw new Error('expected a CraError');
}

describe('vers: the specification test suite', () => {
  for (const t of vectors('vers_canonical_parse_test.json')) {
    it(`parse: ${t.description}`, () => {
      const input = t.input as string;
      if (t.expected_failure) {
        const e = failure(() => parseVers(input));
        expect(e.code).toBe('VERS_INVALID');
        // Our messages are the suite's expected messages, word for word.
        expect(e.message).toContain(t.expected_message);
      } else {
        const out = t.expected_output as { scheme: string; version_constraints: [string, string][] };
        const parsed = parseVers(input);
        expect(parsed.type).toBe(out.scheme);
        expect(parsed.constraints.map((c) => [c.comparator, c.version])).toEqual(out.version_constraints);
      }
    });
  }

  for (const file of ['lexicographic-test.json', 'datetime_version_cmp_test.json']) {
    for (const t of vectors(file)) {
      it(`${t.test_type}: ${t.description}`, () => {
        const input = t.input as { input_scheme: string; versions: string[] };
        const scheme = versionScheme(input.input_scheme);
        if (t.test_type === 'equality') {
          const [a, b] = input.versions as [string, string];
          expect(scheme.compare(a, b) === 0).toBe(t.expected_output);
        } else {
          expect([...input.versions].sort(scheme.compare)).toEqual(t.expected_output);
        }
      });
    }
  }

  for (const t of vectors('npm_range_containment_test.json')) {
    it(`containment: ${t.description}`, () => {
      const input = t.input as { vers: string; version: string };
      expect(versContains(parseVers(input.vers), input.version)).toBe(t.expected_output);
    });
  }
});

describe('vers: containment by the how-to-parse algorithm', () => {
  const inRange = (vers: string, version: string): boolean => versContains(parseVers(vers), version);

  it('a half-open interval', () => {
    const r = 'vers:semver/>=3.0.0|<3.6.1';
    expect([inRange(r, '2.28.8'), inRange(r, '3.0.0'), inRange(r, '3.5.0'), inRange(r, '3.6.0'), inRange(r, '3.6.1'), inRange(r, '3.6.2')]).toEqual([false, true, true, true, false, false]);
  });

  it('single versions, exclusions and several intervals', () => {
    const r = 'vers:semver/1.2.3|>=2.0.0|!=2.2.1|<3.0.0|>=5.0.0';
    expect(['1.2.3', '1.2.4', '2.0.0', '2.2.1', '2.9.9', '3.0.0', '4.0.0', '5.0.0', '9.0.0'].map((v) => inRange(r, v))).toEqual([true, false, true, false, true, false, false, true, true]);
  });

  it('open-ended at either side', () => {
    expect(inRange('vers:semver/<2.1.0', '2.0.9')).toBe(true);
    expect(inRange('vers:semver/<2.1.0', '2.1.0')).toBe(false);
    expect(inRange('vers:semver/<=2.1.0', '2.1.0')).toBe(true);
    expect(inRange('vers:semver/>2.1.0', '2.1.0')).toBe(false);
    expect(inRange('vers:semver/<1.0.0|>2.0.0', '1.5.0')).toBe(false);
    expect(inRange('vers:semver/<1.0.0|>2.0.0', '2.0.1')).toBe(true);
  });

  it('pre-releases order before their release (SemVer 2.0.0 precedence)', () => {
    expect(inRange('vers:semver/>=3.6.0|<3.6.1', '3.6.1-rc.1')).toBe(true);
    expect(inRange('vers:semver/<3.6.0', '3.6.0-beta')).toBe(true);
  });

  it('all and none, and the star', () => {
    expect(inRange('vers:all/*', 'anything')).toBe(true);
    expect(inRange('vers:none/*', 'anything')).toBe(false);
    expect(inRange('vers:semver/*', '0.0.1')).toBe(true);
  });

  it('golang requires the v prefix; semver refuses it', () => {
    expect(inRange('vers:golang/>=v5.1.0|<v5.1.3', 'v5.1.2')).toBe(true);
    expect(failure(() => inRange('vers:semver/>=5.1.0', 'v5.1.2')).code).toBe('VERSION_INVALID');
    expect(failure(() => parseVersStrict('vers:golang/>=5.1.0')).code).toBe('VERS_INVALID');
  });

  it('generic compares the version strings firmware carries (v-prefix, two or three parts, suffixes)', () => {
    expect(inRange('vers:generic/>=v5.1.0|<v5.1.3', 'v5.1.2')).toBe(true);
    expect(inRange('vers:generic/<2.2.0', '2.1.3')).toBe(true);
    expect(inRange('vers:generic/<2.2.0', '2.2')).toBe(false);
    expect(['3.6.1a', '3.5.0', 'v3.6.1', '3.6.1rc1', '3.10'].sort(compareGeneric)).toEqual(['3.5.0', '3.6.1rc1', 'v3.6.1', '3.6.1a', '3.10']);
  });

  it('intdot stops at the first other character and ignores leading zeros', () => {
    expect(inRange('vers:intdot/>=10.2|<10.10', '10.002.7-beta')).toBe(true);
    expect(inRange('vers:intdot/>=10.2|<10.10', '10.10')).toBe(false);
  });
});

describe('vers: what is not canonical is refused, never normalised', () => {
  const refused: [string, string][] = [
    ['VERS:semver/1.0.0', 'lowercase'],
    ['vers:SemVer/1.0.0', 'lowercase'],
    ['vers:semver/', 'empty'],
    ['vers:semver/1.0.0|1.0.0', 'unique'],
    ['vers:semver/>=1.0.0|>=2.0.0', 'alternate'],
    ['vers:semver/<1.0.0|<2.0.0', 'alternate'],
    ['vers:semver/1.0.0|<2.0.0', '"=" may be followed only'],
    ['vers:semver/*|1.0.0', 'alone'],
    ['vers:semver/=1.0.0', 'implied'],
    ['vers:all/1.0.0', 'only valid form'],
    ['vers:semver/>=1.0|<2.0.0', 'SemVer'],
    ['semver/>=1.0.0', 'scheme'],
  ];
  for (const [input, why] of refused) {
    it(input, () => {
      const e = failure(() => parseVers(input));
      expect(e.code).toBe('VERS_INVALID');
      expect(e.message).toContain(why);
    });
  }

  it('an unknown type is refused as unsupported, not compared by guesswork', () => {
    expect(failure(() => parseVers('vers:deb/>=1.0')).code).toBe('VERS_TYPE_UNSUPPORTED');
  });

  it('a lone version its type refuses parses (as the suite requires) but is refused by the strict parse', () => {
    expect(parseVers('vers:semver/>=1.0').constraints).toHaveLength(1);
    expect(failure(() => parseVersStrict('vers:semver/>=1.0')).code).toBe('VERS_INVALID');
    expect(failure(() => versContains(parseVers('vers:semver/>=1.0'), '1.0.0')).code).toBe('VERS_INVALID');
  });

  it('formatVers gives back the canonical string', () => {
    for (const s of ['vers:semver/>=3.0.0|<3.6.1', 'vers:npm/1.0%252F0', 'vers:generic/v1.0|>=v2.0', 'vers:all/*']) expect(formatVers(parseVers(s))).toBe(s);
  });
});
