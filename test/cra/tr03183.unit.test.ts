/**
 * The BSI TR-03183-2 v2.1.0 report names exactly the missing fields of each release SBOM, and the enriched
 * CycloneDX 1.6 rendering adds what the ledger knows (image SHA-512 and file name, creator, time), stays
 * valid against the official schema, is deterministic, and still states what nobody knows.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderEnrichedCycloneDx, type ReleaseFacts } from '../../src/cra/enrich.ts';
import { ingestSbom } from '../../src/cra/sbom.ts';
import { validateDocument } from '../../src/cra/schema-validation.ts';
import { tr03183Report } from '../../src/cra/tr03183.ts';
import { canonicalize } from '../../src/crypto/jcs.ts';

const load = (name: string) => ingestSbom(readFileSync(new URL(`../fixtures/cra/${name}`, import.meta.url)));
const missingByRef = (r: ReturnType<typeof tr03183Report>) => Object.fromEntries(r.components.map((c) => [c.ref, c.missing]));

const FILE_FIELDS = ['filename'];
const DEPLOYABLE = ['distributionLicences', 'deployableHashSha512', 'executable', 'archive', 'structured'];

describe('TR-03183-2 report of the CycloneDX 1.6 SBOM (release 2.3.0)', () => {
  const sbom = load('sensor-fw-2.3.0.cdx.json');
  const report = tr03183Report(sbom.document, sbom.sha256);

  it('accepts the format and the SBOM-level fields', () => {
    expect([report.formatAccepted, report.documentMissing, report.conformant]).toEqual([true, [], false]);
    expect(report.document.map((f) => [f.field, f.present, f.detail])).toEqual([
      ['creator', true, 'psirt@example-sensors.eu'],
      ['timestamp', true, '2026-06-02T14:31:07Z'],
      ['sbomUri', true, 'urn:cdx:4b8e0f3a-2c71-4d9e-a6b5-0e1f2d3c4b5a/1'],
    ]);
  });

  it('names exactly the missing fields of each component', () => {
    expect(missingByRef(report)).toEqual({
      'sensor-fw@2.3.0': [...FILE_FIELDS, ...DEPLOYABLE],
      'pkg:github/espressif/esp-idf@v5.1.2': [...FILE_FIELDS, 'dependencyCompleteness', ...DEPLOYABLE],
      'pkg:github/Mbed-TLS/mbedtls@v3.4.1': ['creator', ...FILE_FIELDS, ...DEPLOYABLE],
      'pkg:github/espressif/esp-lwip@2.1.3': ['creator', ...FILE_FIELDS, ...DEPLOYABLE],
      'pkg:github/DaveGamble/cJSON@v1.7.15': ['creator', ...FILE_FIELDS, 'dependencies', 'dependencyCompleteness', ...DEPLOYABLE],
    });
    const cjson = report.components.find((c) => c.name === 'cJSON');
    expect(cjson?.fields.find((f) => f.field === 'distributionLicences')?.detail).toBe('licences without acknowledgement: MIT');
    expect(cjson?.fields.find((f) => f.field === 'originalLicences')).toMatchObject({ requirement: 'required-if-known', present: false });
  });

  it('a vulnerability inside the SBOM makes the format unacceptable (§3.1)', () => {
    const doc = { ...sbom.json, vulnerabilities: [{ id: 'CVE-2024-23775' }] };
    const r = tr03183Report(ingestSbom(new TextEncoder().encode(JSON.stringify(doc))).document);
    expect([r.formatAccepted, r.formatDetail]).toEqual([false, 'the SBOM carries 1 vulnerability statement(s) (§3.1: they belong in VEX or CSAF)']);
  });

  it('a property with a value the BSI taxonomy does not define does not count', () => {
    const doc = structuredClone(sbom.json) as { components: { properties?: unknown[] }[] };
    (doc.components[1] as { properties?: unknown[] }).properties = [{ name: 'bsi:component:executable', value: 'yes' }, { name: 'bsi:component:filename', value: 'fw/mbedtls.a' }];
    const r = tr03183Report(ingestSbom(new TextEncoder().encode(JSON.stringify(doc))).document);
    const fields = r.components.find((c) => c.name === 'mbedtls')?.fields ?? [];
    expect(fields.find((f) => f.field === 'executable')).toMatchObject({ present: false, detail: '"yes" is not one of "executable", "non-executable"' });
    expect(fields.find((f) => f.field === 'filename')).toMatchObject({ present: false, detail: '"fw/mbedtls.a" is a path, not a file name' });
  });
});

describe('TR-03183-2 report of the esp-idf-sbom SPDX 2.2 tag-value SBOM (release 2.4.0)', () => {
  const sbom = load('sensor-fw-2.4.0.spdx');
  const report = tr03183Report(sbom.document, sbom.sha256);

  it('refuses the format (SPDX 2 is no longer accepted) and names the missing SBOM creator', () => {
    expect([report.formatAccepted, report.formatDetail]).toEqual([false, 'SPDX 2.2 is not accepted (§4: CycloneDX 1.6 or later, or SPDX 3.0.1 or later)']);
    expect(report.documentMissing).toEqual(['creator']);
    expect(report.document[0]?.detail).toBe('tool: ESP-IDF SBOM builder: no email address or URL');
  });

  it('names exactly the missing fields of each package', () => {
    const all = ['creator', 'filename', 'dependencyCompleteness', ...DEPLOYABLE];
    const leaf = ['creator', 'filename', 'dependencies', 'dependencyCompleteness', ...DEPLOYABLE];
    expect(missingByRef(report)).toEqual({
      'SPDXRef-PROJECT-sensor-fw': all,
      'SPDXRef-FRAMEWORK-esp-idf': leaf,
      'SPDXRef-TOOLCHAIN-xtensa-esp-elf': leaf,
      'SPDXRef-COMPONENT-lwip': all,
      'SPDXRef-SUBMODULE-lwip-lwip': leaf,
      'SPDXRef-COMPONENT-main': all,
      'SPDXRef-COMPONENT-mbedtls': all,
      'SPDXRef-SUBMODULE-mbedtls-mbedtls': leaf,
    });
    expect(report.missingSummary).toEqual({ creator: 8, filename: 8, dependencies: 4, dependencyCompleteness: 8, distributionLicences: 8, deployableHashSha512: 8, executable: 8, archive: 8, structured: 8 });
    // The toolchain's SHA-256 is there, but the TR asks for SHA-512.
    expect(report.components.find((c) => c.ref === 'SPDXRef-TOOLCHAIN-xtensa-esp-elf')?.fields.find((f) => f.field === 'deployableHashSha512')?.present).toBe(false);
  });
});

describe('the enriched CycloneDX 1.6 rendering', () => {
  const sbom = load('sensor-fw-2.4.0.spdx');
  const facts: ReleaseFacts = {
    releaseId: 'ES300-2.4.0',
    productName: 'ES-300 sensor firmware',
    version: '2.4.0',
    creator: { name: 'Example Sensors GmbH', email: 'psirt@example-sensors.eu', url: 'https://example-sensors.eu' },
    approvedAt: '2026-10-15T08:00:00Z',
    images: [
      { role: 'application', filename: 'sensor-fw.bin', sha256: 'e7e4837df871bdc016799203eb3b2f0cb1eed2d170f6830e84cdaebc06c21bca', sha512: 'a1'.repeat(64), sizeBytes: 917504, executable: 'executable', archive: 'no archive', structured: 'structured' },
      { role: 'bootloader', filename: 'bootloader.bin', sha256: 'b2'.repeat(32), sha512: 'c3'.repeat(64) },
    ],
  };
  const enriched = renderEnrichedCycloneDx(sbom.document, sbom.sha256, facts);

  it('is valid CycloneDX 1.6 and deterministic', () => {
    expect(validateDocument('cyclonedx-1.6', enriched.document).valid).toBe(true);
    expect(canonicalize(renderEnrichedCycloneDx(sbom.document, sbom.sha256, facts).document)).toBe(canonicalize(enriched.document));
    const other = renderEnrichedCycloneDx(sbom.document, sbom.sha256, { ...facts, releaseId: 'ES300-2.4.1' });
    expect((other.document as { serialNumber: string }).serialNumber).not.toBe((enriched.document as { serialNumber: string }).serialNumber);
  });

  it('now has the SBOM creator and the images with SHA-512 and file name where the TR looks', () => {
    expect(enriched.report.formatAccepted).toBe(true);
    expect(enriched.report.documentMissing).toEqual([]);
    const r = Object.fromEntries(enriched.report.components.map((c) => [c.ref, c.missing]));
    expect(r['release:ES300-2.4.0/image:application']).toEqual(['distributionLicences']);
    expect(r['release:ES300-2.4.0/image:bootloader']).toEqual(['distributionLicences', 'executable', 'archive', 'structured']);
    // What neither the SBOM nor the ledger knows stays missing, component by component.
    expect(r['SPDXRef-SUBMODULE-mbedtls-mbedtls']).toEqual(['creator', 'filename', 'dependencies', 'dependencyCompleteness', ...DEPLOYABLE]);
    expect(r['release:ES300-2.4.0']).toEqual(['filename', 'distributionLicences', 'deployableHashSha512', 'executable', 'archive', 'structured']);
  });

  it('refers to the SBOM it was made from by its SHA-256', () => {
    const refs = (enriched.document as { externalReferences: { type: string; hashes: { content: string }[] }[] }).externalReferences;
    expect(refs).toEqual([expect.objectContaining({ type: 'bom', hashes: [{ alg: 'SHA-256', content: sbom.sha256 }] })]);
  });
});
