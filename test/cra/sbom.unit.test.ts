/**
 * SBOM ingestion: the two release SBOMs of the fixtures (a CycloneDX 1.6 document and an SPDX 2.2
 * tag-value document laid out exactly as esp-idf-sbom 1.2.0 writes it), SPDX 2 JSON, SPDX 3.0.1 JSON-LD
 * and CycloneDX 1.7, each checked against its official schema; and the refusals, each with its code and
 * the place it names.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CraError } from '../../src/cra/errors.ts';
import { ingestSbom } from '../../src/cra/sbom.ts';
import { validateDocument } from '../../src/cra/schema-validation.ts';
import { spdx2TagValueToJson } from '../../src/cra/spdx2-tag-value.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/cra/${name}`, import.meta.url));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function failure(fn: () => unknown): CraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CraError) return e;
    throw e;
  }
  throw new Error('expected a CraError');
}

describe('the vendored schemas are the published ones', () => {
  it('every file in src/cra/json-schemas has the SHA-256 its README records', () => {
    const dir = new URL('../../src/cra/json-schemas/', import.meta.url);
    const readme = readFileSync(new URL('README.md', dir), 'utf8');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(13);
    for (const f of files) {
      const digest = createHash('sha256').update(readFileSync(new URL(f, dir))).digest('hex');
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${f}\``));
      expect(row, f).toBeDefined();
      expect(row).toContain(digest);
    }
  });
});

describe('CycloneDX 1.6', () => {
  const sbom = ingestSbom(fixture('sensor-fw-2.3.0.cdx.json'));

  it('is read with its document fields and components', () => {
    expect(sbom.schema).toBe('cyclonedx-1.6');
    expect(sbom.sha256).toBe(createHash('sha256').update(fixture('sensor-fw-2.3.0.cdx.json')).digest('hex'));
    const d = sbom.document;
    expect([d.format, d.specVersion, d.encoding, d.uri, d.timestamp, d.primaryRef]).toEqual(['CycloneDX', '1.6', 'json', 'urn:cdx:4b8e0f3a-2c71-4d9e-a6b5-0e1f2d3c4b5a/1', '2026-06-02T14:31:07Z', 'sensor-fw@2.3.0']);
    expect(d.creators).toEqual([{ kind: 'organization', name: 'Example Sensors GmbH', email: 'psirt@example-sensors.eu', url: 'https://example-sensors.eu' }]);
    expect(d.components.map((c) => [c.name, c.version, c.purls[0]])).toEqual([
      ['sensor-fw', '2.3.0', 'pkg:generic/example-sensors/sensor-fw@2.3.0'],
      ['esp-idf', 'v5.1.2', 'pkg:github/espressif/esp-idf@v5.1.2'],
      ['mbedtls', '3.4.1', 'pkg:github/mbed-tls/mbedtls@v3.4.1'],
      ['lwip', '2.1.3', 'pkg:github/espressif/esp-lwip@2.1.3'],
      ['cJSON', '1.7.15', 'pkg:github/davegamble/cjson@v1.7.15'],
    ]);
    const mbedtls = d.components.find((c) => c.name === 'mbedtls');
    expect(mbedtls).toMatchObject({ cpes: ['cpe:2.3:a:arm:mbed_tls:3.4.1:*:*:*:*:*:*:*'], declaredLicences: ['Apache-2.0 OR GPL-2.0-or-later'], dependenciesStated: true, dependencyCompleteness: 'complete', dependsOn: [] });
    expect(d.components.find((c) => c.name === 'cJSON')).toMatchObject({ dependenciesStated: false, unqualifiedLicences: ['MIT'] });
  });

  it('a document that breaks the schema is refused with the JSON pointer of the problem', () => {
    const doc = JSON.parse(fixture('sensor-fw-2.3.0.cdx.json').toString('utf8'));
    doc.components[1].hashes[0].content = 'not-hex';
    const e = failure(() => ingestSbom(utf8(JSON.stringify(doc))));
    expect(e.code).toBe('SBOM_SCHEMA_INVALID');
    expect(e.where).toBe('/components/1/hashes/0/content');
  });

  it('CycloneDX before 1.6 is refused as a version, not as a broken file', () => {
    const e = failure(() => ingestSbom(utf8(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.4', version: 1 }))));
    expect([e.code, e.where]).toEqual(['SBOM_VERSION_UNSUPPORTED', '/specVersion']);
  });

  it('CycloneDX 1.7 is read against the 1.7 schema', () => {
    const doc = { bomFormat: 'CycloneDX', specVersion: '1.7', version: 1, metadata: { timestamp: '2026-10-01T00:00:00Z' }, components: [{ type: 'library', 'bom-ref': 'a', name: 'zlib', version: '1.3.1', purl: 'pkg:github/madler/zlib@v1.3.1' }] };
    const sbom = ingestSbom(utf8(JSON.stringify(doc)));
    expect([sbom.schema, sbom.document.components[0]?.name]).toEqual(['cyclonedx-1.7', 'zlib']);
    expect(failure(() => ingestSbom(utf8(JSON.stringify({ ...doc, components: [{ type: 'no-such-type', name: 'x' }] })))).code).toBe('SBOM_SCHEMA_INVALID');
  });
});

describe('SPDX 2.2 tag-value as esp-idf-sbom writes it', () => {
  const text = fixture('sensor-fw-2.4.0.spdx').toString('utf8');
  const sbom = ingestSbom(utf8(text));

  it('converts to SPDX 2 JSON that the official 2.2 schema accepts', () => {
    expect(sbom.schema).toBe('spdx-2.2');
    expect(validateDocument('spdx-2.2', sbom.json).valid).toBe(true);
    expect(sbom.document.encoding).toBe('tag-value');
  });

  it('keeps every package, file, external reference and relationship', () => {
    const json = spdx2TagValueToJson(text) as { packages: { SPDXID: string; externalRefs?: unknown[] }[]; files: unknown[]; relationships: unknown[] };
    expect(json.packages.map((p) => p.SPDXID)).toEqual([
      'SPDXRef-PROJECT-sensor-fw',
      'SPDXRef-FRAMEWORK-esp-idf',
      'SPDXRef-TOOLCHAIN-xtensa-esp-elf',
      'SPDXRef-COMPONENT-lwip',
      'SPDXRef-SUBMODULE-lwip-lwip',
      'SPDXRef-COMPONENT-main',
      'SPDXRef-COMPONENT-mbedtls',
      'SPDXRef-SUBMODULE-mbedtls-mbedtls',
    ]);
    expect(json.files).toHaveLength(1);
    expect(json.relationships).toHaveLength(text.split('\n').filter((l) => l.startsWith('Relationship:')).length);
    expect(json.relationships).toHaveLength(11);
    expect(text.split('\n').filter((l) => l.startsWith('ExternalRef:'))).toHaveLength(json.packages.reduce((n, p) => n + (p.externalRefs?.length ?? 0), 0));
    // A <text> block holding lines that start with '#' is a value, not comments.
    const lwip = (json.packages as { SPDXID: string; comment?: string }[]).find((p) => p.SPDXID === 'SPDXRef-SUBMODULE-lwip-lwip');
    expect(lwip?.comment).toContain('# The cve-exclude-list list contains CVEs');
    expect(lwip?.comment).toContain('CVE-2020-22283');
  });

  it('normalises the submodule packages with their CPEs (both mbed_tls vendors) and purl', () => {
    const mbed = sbom.document.components.find((c) => c.ref === 'SPDXRef-SUBMODULE-mbedtls-mbedtls');
    expect(mbed).toMatchObject({
      name: 'mbed_tls',
      version: '3.5.1',
      purls: ['pkg:github/mbed-tls/mbedtls@3.5.1'],
      cpes: ['cpe:2.3:a:arm:mbed_tls:3.5.1:*:*:*:*:*:*:*', 'cpe:2.3:a:trustedfirmware:mbed_tls:3.5.1:*:*:*:*:*:*:*'],
      supplier: { kind: 'organization', name: 'Espressif Systems (Shanghai) CO LTD' },
      creators: [],
      declaredLicences: ['Apache-2.0 OR GPL-2.0-or-later'],
      concludedLicences: [],
      deployableUri: 'https://github.com/Mbed-TLS/mbedtls',
    });
    expect(sbom.document.components.find((c) => c.ref === 'SPDXRef-COMPONENT-mbedtls')?.dependsOn).toEqual(['SPDXRef-SUBMODULE-mbedtls-mbedtls', 'SPDXRef-COMPONENT-lwip']);
    expect(sbom.document.components.find((c) => c.ref === 'SPDXRef-TOOLCHAIN-xtensa-esp-elf')?.hashes[0]?.alg).toBe('SHA-256');
    expect(sbom.document.primaryRef).toBe('SPDXRef-PROJECT-sensor-fw');
  });

  it('a malformed line is refused naming its line number', () => {
    const broken = text.replace('PackageVersion: 3.5.1', 'PackageVersion 3.5.1');
    const line = broken.split('\n').findIndex((l) => l === 'PackageVersion 3.5.1') + 1;
    const e = failure(() => ingestSbom(utf8(broken)));
    expect([e.code, e.where]).toEqual(['SBOM_TAG_VALUE_INVALID', `line ${line}`]);
  });

  it('an unknown tag is refused, never dropped', () => {
    const e = failure(() => ingestSbom(utf8(text.replace('PackageVersion: 3.5.1', 'PackageVersion: 3.5.1\nPackageFrobnication: yes'))));
    expect(e.code).toBe('SBOM_TAG_VALUE_INVALID');
    expect(e.message).toContain('PackageFrobnication');
  });

  it('an unclosed <text> is refused at the line that opened it', () => {
    const e = failure(() => ingestSbom(utf8(text.replace('</text>\n\n# main component', '\n\n# main component'))));
    expect(e.code).toBe('SBOM_TAG_VALUE_INVALID');
    expect(e.message).toContain('never closed');
  });

  it('tag-value that converts to invalid SPDX is refused by the schema', () => {
    const e = failure(() => ingestSbom(utf8(text.replace(/^PackageDownloadLocation: .*\n/m, ''))));
    expect(e.code).toBe('SBOM_SCHEMA_INVALID');
  });
});

describe('SPDX 2.3 JSON and SPDX 3.0.1 JSON-LD', () => {
  it('SPDX 2.3 JSON with a SHA-512 package checksum and a file name', () => {
    const doc = {
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: 'gw',
      documentNamespace: 'https://example.com/spdx/gw-1',
      creationInfo: { created: '2026-01-01T00:00:00Z', creators: ['Organization: Example (sbom@example.com)', 'Tool: x-1'] },
      packages: [{ SPDXID: 'SPDXRef-fw', name: 'gw-fw', versionInfo: '1.0.0', downloadLocation: 'NOASSERTION', packageFileName: 'gw-fw.bin', checksums: [{ algorithm: 'SHA512', checksumValue: 'AB'.repeat(64) }], primaryPackagePurpose: 'FIRMWARE' }],
      relationships: [{ spdxElementId: 'SPDXRef-fw', relationshipType: 'DEPENDS_ON', relatedSpdxElement: 'NONE' }],
    };
    const sbom = ingestSbom(utf8(JSON.stringify(doc)));
    expect(sbom.schema).toBe('spdx-2.3');
    expect(sbom.document.creators[0]).toEqual({ kind: 'organization', name: 'Example', email: 'sbom@example.com' });
    expect(sbom.document.components[0]).toMatchObject({ filename: 'gw-fw.bin', type: 'firmware', dependenciesStated: true, dependencyCompleteness: 'complete', hashes: [{ alg: 'SHA-512', value: 'ab'.repeat(64), of: 'distribution' }] });
  });

  it('SPDX 3.0.1 JSON-LD with a package, its distribution file and relationships', () => {
    const ci = '_:creationinfo';
    const doc = {
      '@context': 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld',
      '@graph': [
        { type: 'CreationInfo', '@id': ci, specVersion: '3.0.1', created: '2026-02-03T04:05:06Z', createdBy: ['https://example.com/spdx/org'] },
        { type: 'Organization', spdxId: 'https://example.com/spdx/org', creationInfo: ci, name: 'Example', externalIdentifier: [{ type: 'ExternalIdentifier', externalIdentifierType: 'email', identifier: 'sbom@example.com' }] },
        { type: 'software_Sbom', spdxId: 'https://example.com/spdx/sbom', creationInfo: ci, rootElement: ['https://example.com/spdx/pkg'], element: ['https://example.com/spdx/pkg', 'https://example.com/spdx/file'] },
        { type: 'software_Package', spdxId: 'https://example.com/spdx/pkg', creationInfo: ci, name: 'mbedtls', software_packageVersion: '3.6.2', software_packageUrl: 'pkg:github/Mbed-TLS/mbedtls@v3.6.2', originatedBy: ['https://example.com/spdx/org'] },
        { type: 'software_File', spdxId: 'https://example.com/spdx/file', creationInfo: ci, name: 'libmbedtls.a', software_primaryPurpose: 'archive', verifiedUsing: [{ type: 'Hash', algorithm: 'sha512', hashValue: 'cd'.repeat(64) }] },
        { type: 'Relationship', spdxId: 'https://example.com/spdx/rel1', creationInfo: ci, from: 'https://example.com/spdx/pkg', relationshipType: 'hasDistributionArtifact', to: ['https://example.com/spdx/file'] },
        { type: 'Relationship', spdxId: 'https://example.com/spdx/rel2', creationInfo: ci, from: 'https://example.com/spdx/pkg', relationshipType: 'dependsOn', to: ['https://spdx.org/rdf/3.0.1/terms/Core/NoneElement'], completeness: 'complete' },
      ],
    };
    const sbom = ingestSbom(utf8(JSON.stringify(doc)));
    expect(sbom.schema).toBe('spdx-3.0.1');
    expect(sbom.document.uri).toBe('https://example.com/spdx/sbom');
    expect(sbom.document.creators).toEqual([{ kind: 'organization', name: 'Example', email: 'sbom@example.com' }]);
    expect(sbom.document.components).toHaveLength(1);
    expect(sbom.document.components[0]?.dependsOn).toEqual([]);
    expect(sbom.document.components[0]).toMatchObject({ name: 'mbedtls', filename: 'libmbedtls.a', archive: 'archive', executable: 'non-executable', dependencyCompleteness: 'complete', purls: ['pkg:github/mbed-tls/mbedtls@v3.6.2'] });
    expect(failure(() => ingestSbom(utf8(JSON.stringify({ ...doc, '@graph': [{ type: 'software_Package', name: 3 }] })))).code).toBe('SBOM_SCHEMA_INVALID');
  });

  it('bytes that are no SBOM are refused as such', () => {
    expect(failure(() => ingestSbom(utf8('hello'))).code).toBe('SBOM_FORMAT_UNKNOWN');
    expect(failure(() => ingestSbom(utf8('{"a":1}'))).code).toBe('SBOM_FORMAT_UNKNOWN');
    expect(failure(() => ingestSbom(utf8('{'))).code).toBe('SBOM_FORMAT_UNKNOWN');
    expect(failure(() => ingestSbom(new Uint8Array([0xff, 0xfe]))).code).toBe('SBOM_FORMAT_UNKNOWN');
    expect(failure(() => ingestSbom(utf8(JSON.stringify({ spdxVersion: 'SPDX-2.1' })))).code).toBe('SBOM_VERSION_UNSUPPORTED');
  });
});
