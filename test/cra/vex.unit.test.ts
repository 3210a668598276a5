/**
 * VEX documents from assessments: CSAF 2.0 (csaf_vex), OpenVEX 0.2.0 and CycloneDX 1.6, each valid against
 * its official schema (checked again here, independently of the renderer's own check), deterministic
 * whatever the order of the input, signed with DSSE; and assessments the formats would misread are refused.
 */
import { describe, expect, it } from 'vitest';
import { CraError } from '../../src/cra/errors.ts';
import { validateDocument } from '../../src/cra/schema-validation.ts';
import { openSignedDocument, signDocument } from '../../src/cra/sign.ts';
import { checkAssessment, renderCsafVex, renderCycloneDxVex, renderOpenVex, type Assessment, type VexContext } from '../../src/cra/vex.ts';
import { canonicalize } from '../../src/crypto/jcs.ts';
import { generateKeyPair } from '../../src/crypto/ed25519.ts';
import { sha256Hex } from '../../src/crypto/sha256.ts';

const context: VexContext = {
  publisher: { name: 'Example Sensors GmbH', namespace: 'https://example-sensors.eu', contact: 'psirt@example-sensors.eu' },
  documentId: 'ES-VEX-2026-0001',
  title: 'ES-300 sensor firmware: Mbed TLS CVE-2024-23775',
  revision: 2,
  initialReleaseDate: '2026-11-20T10:00:00Z',
  currentReleaseDate: '2026-11-22T16:30:00Z',
  products: [
    { releaseId: 'ES300-2.3.0', name: 'ES-300 sensor firmware', version: '2.3.0', purl: 'pkg:generic/example-sensors/sensor-fw@2.3.0' },
    { releaseId: 'ES300-2.4.0', name: 'ES-300 sensor firmware', version: '2.4.0', purl: 'pkg:generic/example-sensors/sensor-fw@2.4.0' },
    { releaseId: 'ES300-2.4.1', name: 'ES-300 sensor firmware', version: '2.4.1', purl: 'pkg:generic/example-sensors/sensor-fw@2.4.1' },
  ],
};
const mbedtls = { name: 'mbedtls', purl: 'pkg:github/mbed-tls/mbedtls' };
const assessments: Assessment[] = [
  { vulnerabilityId: 'CVE-2024-23775', aliases: ['EUVD-2024-17411'], description: 'Integer overflow in mbedtls_x509_set_extensions()', releaseIds: ['ES300-2.4.0', 'ES300-2.3.0'], components: [{ ...mbedtls, version: '3.5.1' }, { ...mbedtls, version: '3.4.1' }], status: 'affected', actionStatement: 'Update to firmware 2.4.1 over the air.', assessedAt: '2026-11-21T09:00:00Z' },
  { vulnerabilityId: 'CVE-2024-23775', releaseIds: ['ES300-2.4.1'], components: [{ ...mbedtls, version: '3.5.2' }], status: 'fixed', assessedAt: '2026-11-22T16:00:00Z' },
  { vulnerabilityId: 'CVE-2024-23170', releaseIds: ['ES300-2.3.0', 'ES300-2.4.0', 'ES300-2.4.1'], components: [mbedtls], status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', impactStatement: 'The firmware never parses RSA keys from the network.', assessedAt: '2026-11-21T09:30:00Z' },
  { vulnerabilityId: 'GHSA-9m2x-xv5m-2c3c', releaseIds: ['ES300-2.4.1'], components: [{ name: 'lwip', version: '2.1.3' }], status: 'under_investigation', assessedAt: '2026-11-22T12:00:00Z' },
];

const renderers = { csaf: renderCsafVex, openvex: renderOpenVex, cyclonedx: renderCycloneDxVex } as const;
const schemas = { csaf: 'csaf-2.0', openvex: 'openvex-0.2.0', cyclonedx: 'cyclonedx-1.6' } as const;

describe('VEX documents', () => {
  for (const kind of ['csaf', 'openvex', 'cyclonedx'] as const) {
    it(`${kind}: valid against its official schema, the same bytes for any input order, signed`, () => {
      const doc = renderers[kind](context, assessments);
      expect(validateDocument(schemas[kind], doc)).toEqual({ valid: true, problems: [] });
      const shuffled = [...assessments].reverse().map((a) => ({ ...a, releaseIds: [...a.releaseIds].reverse(), components: [...a.components].reverse() }));
      expect(canonicalize(renderers[kind](context, shuffled))).toBe(canonicalize(doc));
      const key = generateKeyPair();
      const envelope = signDocument(kind, doc, { keyId: sha256Hex(key.publicKey), secretKey: key.secretKey });
      expect(openSignedDocument(kind, envelope, key.publicKey)).toEqual(doc);
      expect(openSignedDocument(kind, { ...envelope, payload: Buffer.from(canonicalize({ ...doc, x: 1 })).toString('base64') }, key.publicKey)).toBeUndefined();
      expect(openSignedDocument(kind, envelope, generateKeyPair().publicKey)).toBeUndefined();
    });
  }

  it('CSAF: product status per release, the flag for not_affected, the remediation for affected', () => {
    const doc = renderCsafVex(context, assessments) as { document: { category: string }; vulnerabilities: Record<string, unknown>[] };
    expect(doc.document.category).toBe('csaf_vex');
    const cve = doc.vulnerabilities.find((v) => v['cve'] === 'CVE-2024-23775');
    expect(cve?.['product_status']).toEqual({ known_affected: ['FT-ES300-2.3.0', 'FT-ES300-2.4.0'], fixed: ['FT-ES300-2.4.1'] });
    expect(cve?.['remediations']).toEqual([{ category: 'vendor_fix', details: 'Update to firmware 2.4.1 over the air.', product_ids: ['FT-ES300-2.3.0', 'FT-ES300-2.4.0'] }]);
    expect(cve?.['ids']).toEqual([{ system_name: 'EU Vulnerability Database', text: 'EUVD-2024-17411' }]);
    const na = doc.vulnerabilities.find((v) => v['cve'] === 'CVE-2024-23170');
    expect(na?.['flags']).toEqual([{ label: 'vulnerable_code_not_in_execute_path', product_ids: ['FT-ES300-2.3.0', 'FT-ES300-2.4.0', 'FT-ES300-2.4.1'] }]);
    const ghsa = doc.vulnerabilities.find((v) => !('cve' in v));
    expect(ghsa?.['ids']).toEqual([{ system_name: 'GitHub Security Advisories', text: 'GHSA-9m2x-xv5m-2c3c' }]);
  });

  it('OpenVEX and CycloneDX use their own status words', () => {
    const ov = renderOpenVex(context, assessments) as { statements: { status: string; vulnerability: { name: string } }[] };
    expect(ov.statements.map((s) => `${s.vulnerability.name}:${s.status}`)).toEqual(['CVE-2024-23170:not_affected', 'CVE-2024-23775:affected', 'CVE-2024-23775:fixed', 'GHSA-9m2x-xv5m-2c3c:under_investigation']);
    const cdx = renderCycloneDxVex(context, assessments) as { vulnerabilities: { id: string; analysis: { state: string; justification?: string } }[] };
    expect(cdx.vulnerabilities.map((v) => `${v.id}:${v.analysis.state}:${v.analysis.justification ?? ''}`)).toEqual(['CVE-2024-23170:not_affected:code_not_reachable', 'CVE-2024-23775:exploitable:', 'CVE-2024-23775:resolved:', 'GHSA-9m2x-xv5m-2c3c:in_triage:']);
  });

  it('a document edited after rendering no longer validates (the schemas really check)', () => {
    const csaf = structuredClone(renderCsafVex(context, assessments)) as { document: { category: string } };
    csaf.document.category = '';
    expect(validateDocument('csaf-2.0', csaf).valid).toBe(false);
    const ov = structuredClone(renderOpenVex(context, assessments)) as { statements: { status: string }[] };
    (ov.statements[0] as { status: string }).status = 'maybe';
    expect(validateDocument('openvex-0.2.0', ov).valid).toBe(false);
  });

  it('assessments the formats would misread are refused', () => {
    const bad: [Partial<Assessment>, string][] = [
      [{ vulnerabilityId: 'CVE-24-1' }, 'not a CVE, GHSA or EUVD'],
      [{ status: 'not_affected', justification: undefined, impactStatement: undefined, actionStatement: undefined }, 'needs a justification'],
      [{ status: 'affected', actionStatement: undefined }, 'needs an action statement'],
      [{ releaseIds: ['ES300-9.9.9'] }, 'not among the products'],
      [{ status: 'fixed', justification: 'component_not_present' }, 'belongs to not_affected only'],
    ];
    for (const [change, message] of bad) {
      const a = { ...(assessments[0] as Assessment), ...change } as Assessment;
      let error: unknown;
      try {
        checkAssessment(a, context.products);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CraError);
      expect((error as CraError).code).toBe('ASSESSMENT_INVALID');
      expect((error as CraError).message).toContain(message);
    }
  });
});
