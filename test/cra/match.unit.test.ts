/**
 * Component matching across the two release SBOMs, which carry mbedTLS in different versions and under
 * different names (`mbedtls` 3.4.1 with purl version `v3.4.1`; esp-idf-sbom's `mbed_tls` 3.5.1): by purl
 * and VERS or semver range, by CPE 2.3 (NISTIR 7696), by name; and an incomparable version is reported.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareAttribute, cpeMatches, parseCpe } from '../../src/cra/cpe.ts';
import type { CraError } from '../../src/cra/errors.ts';
import { compileSelector, matchComponents } from '../../src/cra/match.ts';
import { ingestSbom } from '../../src/cra/sbom.ts';

const load = (name: string) => ingestSbom(readFileSync(new URL(`../fixtures/cra/${name}`, import.meta.url))).document.components;
const cdx = load('sensor-fw-2.3.0.cdx.json');
const spdx = load('sensor-fw-2.4.0.spdx');
const refs = (r: ReturnType<typeof matchComponents>) => r.matches.map((m) => `${m.ref}@${m.version}`);

// CVE-2024-23775: Mbed TLS 2.x before 2.28.7 and 3.x before 3.5.2.
const VULNERABLE = 'vers:generic/>=2.0.0|<2.28.7|>=3.0.0|<3.5.2';

describe('by purl', () => {
  it('a generic VERS range finds mbedTLS in both SBOMs, whatever the version spelling', () => {
    const sel = { kind: 'purl', purl: 'pkg:github/Mbed-TLS/mbedtls', range: VULNERABLE } as const;
    expect(refs(matchComponents(sel, cdx))).toEqual(['pkg:github/Mbed-TLS/mbedtls@v3.4.1@v3.4.1']);
    expect(refs(matchComponents(sel, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
  });

  it('a semver VERS range cannot order "v3.4.1" and says so instead of missing it', () => {
    const r = matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls', range: 'vers:semver/>=3.0.0|<3.5.2' }, cdx);
    expect(r.matches).toEqual([]);
    expect(r.incomparable).toEqual([expect.objectContaining({ name: 'mbedtls', version: 'v3.4.1', reason: expect.stringContaining('not SemVer 2.0.0') })]);
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls', range: 'vers:semver/>=3.0.0|<3.5.2' }, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
  });

  it('a node-semver range and an exact purl version', () => {
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls', range: '>=3.5.0 <3.5.2' }, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls', range: '>=3.5.2' }, spdx))).toEqual([]);
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls@3.5.1' }, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/mbed-tls/mbedtls@3.5.0' }, spdx))).toEqual([]);
  });

  it('another package of the same name does not match', () => {
    expect(refs(matchComponents({ kind: 'purl', purl: 'pkg:github/espressif/mbedtls', range: VULNERABLE }, spdx))).toEqual([]);
  });
});

describe('by CPE 2.3 and by name', () => {
  it('a CPE with a range finds both, through either vendor name', () => {
    const arm = { kind: 'cpe', cpe: 'cpe:2.3:a:arm:mbed_tls:*:*:*:*:*:*:*:*', range: 'vers:semver/>=3.0.0|<3.5.2' } as const;
    expect(refs(matchComponents(arm, cdx))).toEqual(['pkg:github/Mbed-TLS/mbedtls@v3.4.1@3.4.1']);
    expect(refs(matchComponents(arm, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
    expect(refs(matchComponents({ ...arm, cpe: 'cpe:2.3:a:trustedfirmware:mbed_tls:*:*:*:*:*:*:*:*' }, spdx))).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls@3.5.1']);
    expect(refs(matchComponents({ kind: 'cpe', cpe: 'cpe:2.3:a:*:mbed_tls:3.4.1:*:*:*:*:*:*:*' }, cdx))).toHaveLength(1);
  });

  it('ESP-IDF by its CPE, and lwIP < 2.2 by name', () => {
    expect(refs(matchComponents({ kind: 'cpe', cpe: 'cpe:2.3:a:espressif:esp-idf:5.2.1:*:*:*:*:*:*:*' }, spdx))).toEqual(['SPDXRef-FRAMEWORK-esp-idf@5.2.1']);
    expect(refs(matchComponents({ kind: 'name', name: 'lwip', range: '<2.2.0' }, spdx))).toEqual(['SPDXRef-SUBMODULE-lwip-lwip@2.1.3']);
    // The ESP-IDF wrapper component is also named lwip, versioned v5.2.1: not SemVer, so not judged silently.
    expect(matchComponents({ kind: 'name', name: 'lwip', range: '<2.2.0' }, spdx).incomparable.map((i) => i.ref)).toEqual(['SPDXRef-COMPONENT-lwip']);
  });

  it('bad selectors are refused with a code', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return (e as CraError).code;
      }
      return 'none';
    };
    expect(code(() => compileSelector({ kind: 'purl', purl: 'not a purl' }))).toBe('PURL_INVALID');
    expect(code(() => compileSelector({ kind: 'purl', purl: 'pkg:github/a/b@1.0.0', range: '<2.0.0' }))).toBe('SELECTOR_INVALID');
    expect(code(() => compileSelector({ kind: 'cpe', cpe: 'cpe:2.3:a:arm' }))).toBe('CPE_INVALID');
    expect(code(() => compileSelector({ kind: 'name', name: 'x', range: 'between one and two' }))).toBe('SELECTOR_INVALID');
    expect(code(() => compileSelector({ kind: 'name', name: 'x', range: 'vers:semver/<1.0' }))).toBe('VERS_INVALID');
  });
});

describe('CPE name matching per NISTIR 7696 Table 6-2', () => {
  const v = (s: string) => parseCpe(`cpe:2.3:a:${s}:*:*:*:*:*:*:*:*:*`.split(':').slice(0, 13).join(':')).vendor;
  it('attribute relations', () => {
    expect(compareAttribute({ kind: 'any' }, { kind: 'any' })).toBe('EQUAL');
    expect(compareAttribute({ kind: 'any' }, { kind: 'na' })).toBe('SUPERSET');
    expect(compareAttribute({ kind: 'na' }, { kind: 'any' })).toBe('SUBSET');
    expect(compareAttribute({ kind: 'na' }, { kind: 'value', text: 'x' })).toBe('DISJOINT');
    expect(compareAttribute({ kind: 'value', text: 'x' }, { kind: 'any' })).toBe('SUBSET');
    expect(compareAttribute({ kind: 'value', text: 'mbed*' }, { kind: 'value', text: 'mbed_tls' })).toBe('SUPERSET');
    expect(compareAttribute({ kind: 'value', text: 'mbed?tls' }, { kind: 'value', text: 'mbed_tls' })).toBe('SUPERSET');
    expect(compareAttribute({ kind: 'value', text: 'mbed\\*' }, { kind: 'value', text: 'mbed_tls' })).toBe('DISJOINT');
    expect(compareAttribute({ kind: 'value', text: 'x' }, { kind: 'value', text: 'x*' })).toBe('UNDEFINED');
    expect(v('ARM')).toEqual({ kind: 'value', text: 'arm' });
  });
  it('names, with escapes and CPE 2.2 URIs', () => {
    expect(cpeMatches(parseCpe('cpe:2.3:a:arm:mbed_tls:*:*:*:*:*:*:*:*'), parseCpe('cpe:2.3:a:arm:mbed_tls:3.5.1:*:*:*:*:*:*:*'))).toBe(true);
    expect(cpeMatches(parseCpe('cpe:2.3:a:arm:mbed_tls:3.5.1:*:*:*:*:*:*:*'), parseCpe('cpe:2.3:a:arm:mbed_tls:*:*:*:*:*:*:*:*'))).toBe(false);
    expect(cpeMatches(parseCpe('cpe:2.3:h:espressif:esp32:-:*:*:*:*:*:*:*'), parseCpe('cpe:2.3:h:espressif:esp32:-:*:*:*:*:*:*:*'))).toBe(true);
    expect(parseCpe('cpe:2.3:a:foo\\:bar:baz:1.0:*:*:*:*:*:*:*').vendor).toEqual({ kind: 'value', text: 'foo\\:bar' });
    expect(cpeMatches(parseCpe('cpe:/a:arm:mbed_tls:3.5.1'), parseCpe('cpe:2.3:a:arm:mbed_tls:3.5.1:*:*:*:*:*:*:*'))).toBe(true);
  });
});
