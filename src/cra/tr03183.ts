/**
 * BSI TR-03183-2 v2.1.0 (2025-08-20) conformance report of one SBOM: for the SBOM and for each component,
 * each data field the guideline asks for, present or missing, in a stable JSON shape.
 *
 * Which list this is, and from where (the TR's PDF itself could not be read where this was written):
 * - §4 formats (CycloneDX ≥ 1.6 or SPDX ≥ 3.0.1; SPDX 2 no longer accepted), §3.1 (an SBOM MUST NOT carry
 *   vulnerability information), §5.2.1 SBOM fields (creator as email or URL, timestamp), §5.2.2 component
 *   fields (creator as email or URL, name, version, filename, dependencies with completeness, distribution
 *   licences, SHA-512 of the deployable form, executable / archive / structured property): as summarised
 *   by sbomify's and Interlynk's (sbomqs) published readings of v2.1.0, which agree with each other and
 *   with the issue's list.
 * - The CycloneDX places of those fields: the BSI's own CycloneDX property taxonomy v0.1.2 for TR v2.1.0
 *   (`bsi:component:filename|executable|archive|structured|effectiveLicence`, with their values), and
 *   the TR's mapping table as sbomqs quotes it (licence acknowledgement `concluded`/`declared`, the
 *   deployable hash on `externalReferences[type=distribution].hashes`).
 * - §5.2.3 / §5.2.4 fields the TR requires where they exist (SBOM-URI; source code URI, URI of the
 *   deployable form, other unique identifiers, original licences) are reported as `required-if-known`,
 *   §5.2.5 (effective licence, hash of the source, security.txt URL) as `optional`.
 */
import type { Component, SbomDocument } from './component.ts';
import { hasContact } from './component.ts';

export type Requirement = 'required' | 'required-if-known' | 'optional';

export interface FieldCheck {
  readonly field: string;
  /** The TR section that asks for it. */
  readonly section: string;
  readonly requirement: Requirement;
  readonly present: boolean;
  /** What was found, or why it does not count. */
  readonly detail?: string;
}

export interface ComponentReport {
  readonly ref: string;
  readonly name: string;
  readonly version?: string;
  readonly fields: readonly FieldCheck[];
  /** Names of the `required` fields that are missing, in field order. */
  readonly missing: readonly string[];
}

export interface Tr03183Report {
  readonly guideline: 'BSI TR-03183-2';
  readonly guidelineVersion: '2.1.0';
  readonly sbom: { readonly format: string; readonly specVersion: string; readonly encoding: string; readonly sha256?: string };
  /** CycloneDX ≥ 1.6 or SPDX ≥ 3.0.1, and no vulnerability information inside. */
  readonly formatAccepted: boolean;
  readonly formatDetail: string;
  readonly document: readonly FieldCheck[];
  readonly documentMissing: readonly string[];
  readonly components: readonly ComponentReport[];
  /** Every component-level required field missing somewhere, with how many components lack it. */
  readonly missingSummary: Readonly<Record<string, number>>;
  /** Format accepted and nothing `required` missing anywhere. */
  readonly conformant: boolean;
}

const check = (field: string, section: string, requirement: Requirement, present: boolean, detail?: string): FieldCheck => ({
  field,
  section,
  requirement,
  present,
  ...(detail !== undefined ? { detail } : {}),
});

const BSI_VALUES: Record<string, readonly string[]> = {
  executable: ['executable', 'non-executable'],
  archive: ['archive', 'no archive'],
  structured: ['structured', 'unstructured'],
};

function propertyCheck(field: 'executable' | 'archive' | 'structured', value: string | undefined): FieldCheck {
  const allowed = BSI_VALUES[field] as readonly string[];
  if (value === undefined) return check(field, '5.2.2', 'required', false);
  return allowed.includes(value)
    ? check(field, '5.2.2', 'required', true, value)
    : check(field, '5.2.2', 'required', false, `"${value}" is not one of ${allowed.map((v) => `"${v}"`).join(', ')}`);
}

function componentFields(c: Component, doc: SbomDocument): FieldCheck[] {
  const creator = c.creators.find(hasContact);
  const sha512 = c.hashes.find((h) => h.alg === 'SHA-512' && h.of === 'distribution');
  const componentSha512 = c.hashes.find((h) => h.alg === 'SHA-512' && h.of === 'component');
  const isCdx = doc.format === 'CycloneDX';
  const filenameIsPath = c.filename !== undefined && /[\\/]/.test(c.filename);
  return [
    check('creator', '5.2.2', 'required', creator !== undefined, creator ? (creator.email ?? creator.url) : c.creators.length > 0 ? 'named, but without email address or URL' : undefined),
    check('name', '5.2.2', 'required', c.name !== ''),
    check('version', '5.2.2', 'required', c.version !== undefined && c.version !== ''),
    check('filename', '5.2.2', 'required', c.filename !== undefined && c.filename !== '' && !filenameIsPath, filenameIsPath ? `"${c.filename}" is a path, not a file name` : c.filename),
    check('dependencies', '5.2.2', 'required', c.dependenciesStated, c.dependenciesStated ? `${c.dependsOn.length} direct` : undefined),
    check('dependencyCompleteness', '5.2.2', 'required', c.dependencyCompleteness !== undefined, c.dependencyCompleteness),
    check(
      'distributionLicences',
      '5.2.2',
      'required',
      c.concludedLicences.length > 0,
      c.concludedLicences.length > 0 ? c.concludedLicences.join(' AND ') : c.unqualifiedLicences.length > 0 ? `licences without acknowledgement: ${c.unqualifiedLicences.join(', ')}` : undefined,
    ),
    check(
      'deployableHashSha512',
      '5.2.2',
      'required',
      sha512 !== undefined,
      sha512 ? sha512.value : componentSha512 && isCdx ? 'SHA-512 is in component.hashes; the TR maps the deployable form\u2019s hash to externalReferences[type=distribution].hashes' : undefined,
    ),
    propertyCheck('executable', c.executable),
    propertyCheck('archive', c.archive),
    propertyCheck('structured', c.structured),
    check('sourceCodeUri', '5.2.4', 'required-if-known', c.sourceUri !== undefined, c.sourceUri),
    check('deployableUri', '5.2.4', 'required-if-known', c.deployableUri !== undefined, c.deployableUri),
    check('otherIdentifiers', '5.2.4', 'required-if-known', c.purls.length + c.cpes.length > 0 || c.swid !== undefined, [...c.purls, ...c.cpes, ...(c.swid ? [c.swid] : [])].join(' ') || undefined),
    check('originalLicences', '5.2.4', 'required-if-known', c.declaredLicences.length > 0, c.declaredLicences.join(' AND ') || undefined),
    check('effectiveLicence', '5.2.5', 'optional', c.effectiveLicence !== undefined, c.effectiveLicence),
    check('sourceHash', '5.2.5', 'optional', c.hashes.some((h) => h.of === 'source')),
    check('securityTxtUri', '5.2.5', 'optional', c.securityTxtUri !== undefined, c.securityTxtUri),
  ];
}

const missingOf = (fields: readonly FieldCheck[]): string[] => fields.filter((f) => f.requirement === 'required' && !f.present).map((f) => f.field);

export function tr03183Report(doc: SbomDocument, sha256?: string): Tr03183Report {
  const versionOk = doc.format === 'CycloneDX' ? ['1.6', '1.7'].includes(doc.specVersion) : doc.specVersion === '3.0.1';
  const formatAccepted = versionOk && doc.vulnerabilityCount === 0;
  const formatDetail = !versionOk
    ? `${doc.format} ${doc.specVersion} is not accepted (§4: CycloneDX 1.6 or later, or SPDX 3.0.1 or later)`
    : doc.vulnerabilityCount > 0
      ? `the SBOM carries ${doc.vulnerabilityCount} vulnerability statement(s) (§3.1: they belong in VEX or CSAF)`
      : `${doc.format} ${doc.specVersion}`;
  const creator = doc.creators.find(hasContact);
  const document = [
    check('creator', '5.2.1', 'required', creator !== undefined, creator ? (creator.email ?? creator.url) : doc.creators.length > 0 ? `${doc.creators.map((c) => `${c.kind}: ${c.name ?? '?'}`).join(', ')}: no email address or URL` : undefined),
    check('timestamp', '5.2.1', 'required', doc.timestamp !== undefined, doc.timestamp),
    check('sbomUri', '5.2.3', 'required-if-known', doc.uri !== undefined, doc.uri),
  ];
  const components = doc.components.map((c): ComponentReport => {
    const fields = componentFields(c, doc);
    return { ref: c.ref, name: c.name, ...(c.version ? { version: c.version } : {}), fields, missing: missingOf(fields) };
  });
  const missingSummary: Record<string, number> = {};
  for (const c of components) for (const f of c.missing) missingSummary[f] = (missingSummary[f] ?? 0) + 1;
  const documentMissing = missingOf(document);
  return {
    guideline: 'BSI TR-03183-2',
    guidelineVersion: '2.1.0',
    sbom: { format: doc.format, specVersion: doc.specVersion, encoding: doc.encoding, ...(sha256 ? { sha256 } : {}) },
    formatAccepted,
    formatDetail,
    document,
    documentMissing,
    components,
    missingSummary,
    conformant: formatAccepted && documentMissing.length === 0 && components.every((c) => c.missing.length === 0),
  };
}
