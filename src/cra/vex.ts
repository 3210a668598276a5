/**
 * Vulnerability assessments rendered as the three VEX formats authorities and customers read: CSAF 2.0
 * (profile `csaf_vex`, OASIS), OpenVEX 0.2.0 and CycloneDX 1.6 VEX. Each output is validated against its
 * official schema before it is returned (VEX_SCHEMA_INVALID otherwise: a bug here, never to be published)
 * and is deterministic — the same assessments give the same bytes — so that it can be signed.
 *
 * Status vocabulary (the CISA VEX minimum elements, which all three share):
 *   not_affected (with a justification or an impact statement) · affected (with an action statement) ·
 *   fixed · under_investigation.
 * Justifications are the CISA / OpenVEX / CSAF flag labels. CycloneDX has its own; the mapping used is
 * component_not_present → code_not_present, vulnerable_code_not_present → code_not_present,
 * vulnerable_code_not_in_execute_path → code_not_reachable, vulnerable_code_cannot_be_controlled_by_adversary
 * → requires_environment, inline_mitigations_already_exist → protected_by_mitigating_control.
 */
import { canonicalBytes } from '../crypto/jcs.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../crypto/encoding.ts';
import { CraError } from './errors.ts';
import { describeProblems, validateDocument, type SchemaName } from './schema-validation.ts';

export const VEX_STATUSES = ['not_affected', 'affected', 'fixed', 'under_investigation'] as const;
export type VexStatus = (typeof VEX_STATUSES)[number];

export const VEX_JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
] as const;
export type VexJustification = (typeof VEX_JUSTIFICATIONS)[number];

/** A release the ledger approved, as a VEX product. */
export interface VexProduct {
  readonly releaseId: string;
  /** Human name: `ES-300 sensor firmware`. */
  readonly name: string;
  readonly version: string;
  readonly purl?: string;
}

export interface AssessedComponent {
  readonly name: string;
  readonly version?: string;
  readonly purl?: string;
  readonly cpe?: string;
}

export interface Assessment {
  /** CVE-2024-23775, GHSA-xxxx-xxxx-xxxx or EUVD-2024-12345. */
  readonly vulnerabilityId: string;
  readonly aliases?: readonly string[];
  readonly description?: string;
  /** The releases this statement is about (VexProduct.releaseId). */
  readonly releaseIds: readonly string[];
  /** The components concerned (the vulnerable library, as the SBOM names it). */
  readonly components: readonly AssessedComponent[];
  readonly status: VexStatus;
  readonly justification?: VexJustification;
  readonly impactStatement?: string;
  readonly actionStatement?: string;
  /** RFC 3339. */
  readonly assessedAt: string;
}

export interface VexContext {
  readonly publisher: { readonly name: string; readonly namespace: string; readonly contact?: string };
  /** Stable document id, e.g. `ES-VEX-2026-0001`. */
  readonly documentId: string;
  readonly title: string;
  /** Revision number (1, 2, …) and the dates of the first and of this revision (RFC 3339). */
  readonly revision: number;
  readonly initialReleaseDate: string;
  readonly currentReleaseDate: string;
  readonly products: readonly VexProduct[];
}

const VULN_ID = /^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|EUVD-\d{4}-\d{1,})$/;

/** Refuses an assessment the formats would reject or a reader would misread (ASSESSMENT_INVALID). */
export function checkAssessment(a: Assessment, products: readonly VexProduct[]): void {
  const where = a.vulnerabilityId;
  if (!VULN_ID.test(a.vulnerabilityId)) throw new CraError('ASSESSMENT_INVALID', `"${a.vulnerabilityId}" is not a CVE, GHSA or EUVD identifier`, where);
  if (!VEX_STATUSES.includes(a.status)) throw new CraError('ASSESSMENT_INVALID', `status "${String(a.status)}" is not one of ${VEX_STATUSES.join(', ')}`, where);
  if (a.releaseIds.length === 0) throw new CraError('ASSESSMENT_INVALID', 'an assessment names at least one release', where);
  for (const id of a.releaseIds) if (!products.some((p) => p.releaseId === id)) throw new CraError('ASSESSMENT_INVALID', `release "${id}" is not among the products`, where);
  if (a.status === 'not_affected' && a.justification === undefined && !a.impactStatement) throw new CraError('ASSESSMENT_INVALID', 'not_affected needs a justification or an impact statement', where);
  if (a.justification !== undefined && !VEX_JUSTIFICATIONS.includes(a.justification)) throw new CraError('ASSESSMENT_INVALID', `justification "${String(a.justification)}" is not one of ${VEX_JUSTIFICATIONS.join(', ')}`, where);
  if (a.justification !== undefined && a.status !== 'not_affected') throw new CraError('ASSESSMENT_INVALID', 'a justification belongs to not_affected only', where);
  if (a.status === 'affected' && !a.actionStatement) throw new CraError('ASSESSMENT_INVALID', 'affected needs an action statement (what users should do)', where);
  if (Number.isNaN(Date.parse(a.assessedAt))) throw new CraError('ASSESSMENT_INVALID', `assessedAt "${a.assessedAt}" is not a date-time`, where);
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Assessments in a canonical order, releases and components sorted inside each. */
function canonical(assessments: readonly Assessment[], products: readonly VexProduct[]): Assessment[] {
  for (const a of assessments) checkAssessment(a, products);
  return assessments
    .map((a) => ({
      ...a,
      releaseIds: [...a.releaseIds].sort(byString),
      components: [...a.components].sort((x, y) => byString(`${x.purl ?? ''}${x.name}${x.version ?? ''}`, `${y.purl ?? ''}${y.name}${y.version ?? ''}`)),
      ...(a.aliases ? { aliases: [...a.aliases].sort(byString) } : {}),
    }))
    .sort((x, y) => byString(`${x.vulnerabilityId}|${x.status}|${x.releaseIds.join(',')}`, `${y.vulnerabilityId}|${y.status}|${y.releaseIds.join(',')}`));
}

function checked<T>(schema: SchemaName, doc: T): T {
  const verdict = validateDocument(schema, doc);
  if (!verdict.valid) throw new CraError('VEX_SCHEMA_INVALID', `rendered ${schema} document is not valid against its official schema: ${describeProblems(verdict)}`);
  return doc;
}

const productId = (releaseId: string): string => `FT-${releaseId}`;
const componentText = (c: AssessedComponent): string => `${c.name}${c.version ? ` ${c.version}` : ''}${c.purl ? ` (${c.purl})` : ''}`;
const sortedProducts = (products: readonly VexProduct[]): VexProduct[] => [...products].sort((a, b) => byString(a.releaseId, b.releaseId));

// ---------------------------------------------------------------------------------------------------------
// CSAF 2.0, profile csaf_vex

export function renderCsafVex(context: VexContext, assessments: readonly Assessment[]): Record<string, unknown> {
  const list = canonical(assessments, context.products);
  const byVuln = new Map<string, Assessment[]>();
  for (const a of list) byVuln.set(a.vulnerabilityId, [...(byVuln.get(a.vulnerabilityId) ?? []), a]);
  const vulnerabilities = [...byVuln.entries()].map(([id, group]) => {
    const status: Record<string, string[]> = {};
    const put = (key: string, a: Assessment): void => void (status[key] = [...(status[key] ?? []), ...a.releaseIds.map(productId)].sort(byString));
    const flags: Record<string, unknown>[] = [];
    const threats: Record<string, unknown>[] = [];
    const remediations: Record<string, unknown>[] = [];
    for (const a of group) {
      const ids = a.releaseIds.map(productId);
      if (a.status === 'not_affected') {
        put('known_not_affected', a);
        if (a.justification) flags.push({ label: a.justification, product_ids: ids });
        if (a.impactStatement) threats.push({ category: 'impact', details: a.impactStatement, product_ids: ids });
      } else if (a.status === 'affected') {
        put('known_affected', a);
        remediations.push({ category: 'vendor_fix', details: a.actionStatement, product_ids: ids });
      } else if (a.status === 'fixed') put('fixed', a);
      else put('under_investigation', a);
    }
    const first = group[0] as Assessment;
    const components = [...new Set(group.flatMap((a) => a.components.map(componentText)))].sort(byString);
    const isCve = id.startsWith('CVE-');
    const aliases = [...new Set(group.flatMap((a) => a.aliases ?? []))].sort(byString);
    return {
      ...(isCve ? { cve: id } : { ids: [{ system_name: id.startsWith('GHSA') ? 'GitHub Security Advisories' : 'EU Vulnerability Database', text: id }] }),
      ...(aliases.length > 0 && isCve ? { ids: aliases.map((text) => ({ system_name: text.startsWith('GHSA') ? 'GitHub Security Advisories' : text.startsWith('EUVD') ? 'EU Vulnerability Database' : 'alias', text })) } : {}),
      notes: [
        { category: 'description', title: 'Components concerned', text: components.join('; ') || 'not stated' },
        ...(first.description ? [{ category: 'summary', title: 'Vulnerability', text: first.description }] : []),
      ],
      product_status: status,
      ...(flags.length > 0 ? { flags } : {}),
      ...(threats.length > 0 ? { threats } : {}),
      ...(remediations.length > 0 ? { remediations } : {}),
    };
  });
  const doc = {
    document: {
      category: 'csaf_vex',
      csaf_version: '2.0',
      publisher: { category: 'vendor', name: context.publisher.name, namespace: context.publisher.namespace, ...(context.publisher.contact ? { contact_details: context.publisher.contact } : {}) },
      title: context.title,
      tracking: {
        current_release_date: context.currentReleaseDate,
        id: context.documentId,
        initial_release_date: context.initialReleaseDate,
        revision_history: [{ date: context.currentReleaseDate, number: String(context.revision), summary: context.revision === 1 ? 'Initial version.' : `Revision ${context.revision}.` }],
        status: 'final',
        version: String(context.revision),
      },
    },
    product_tree: {
      full_product_names: sortedProducts(context.products).map((p) => ({
        name: `${p.name} ${p.version}`,
        product_id: productId(p.releaseId),
        ...(p.purl ? { product_identification_helper: { purl: p.purl } } : {}),
      })),
    },
    vulnerabilities,
  };
  return checked('csaf-2.0', doc);
}

// ---------------------------------------------------------------------------------------------------------
// OpenVEX 0.2.0

export function renderOpenVex(context: VexContext, assessments: readonly Assessment[]): Record<string, unknown> {
  const list = canonical(assessments, context.products);
  const products = new Map(context.products.map((p) => [p.releaseId, p]));
  const statements = list.map((a) => ({
    vulnerability: { name: a.vulnerabilityId, ...(a.aliases && a.aliases.length > 0 ? { aliases: a.aliases } : {}), ...(a.description ? { description: a.description } : {}) },
    timestamp: a.assessedAt,
    products: a.releaseIds.map((id) => {
      const p = products.get(id) as VexProduct;
      // A component's purl at its version; each once (the schema requires unique items).
      const ids = a.components.filter((c) => c.purl).map((c) => (c.version && !(c.purl as string).includes('@') ? `${c.purl}@${c.version}` : (c.purl as string)));
      const subcomponents = [...new Set(ids)].sort(byString).map((id) => ({ '@id': id }));
      return { '@id': p.purl ?? `urn:flashtrail:release:${encodeURIComponent(id)}`, ...(subcomponents.length > 0 ? { subcomponents } : {}) };
    }),
    status: a.status,
    ...(a.justification ? { justification: a.justification } : {}),
    ...(a.impactStatement ? { impact_statement: a.impactStatement } : {}),
    ...(a.actionStatement ? { action_statement: a.actionStatement } : {}),
  }));
  const doc = {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': `${context.publisher.namespace.replace(/\/$/, '')}/vex/${encodeURIComponent(context.documentId)}`,
    author: context.publisher.name,
    timestamp: context.initialReleaseDate,
    last_updated: context.currentReleaseDate,
    version: context.revision,
    statements,
  };
  return checked('openvex-0.2.0', doc);
}

// ---------------------------------------------------------------------------------------------------------
// CycloneDX 1.6 VEX

const CDX_STATE: Record<VexStatus, string> = { not_affected: 'not_affected', affected: 'exploitable', fixed: 'resolved', under_investigation: 'in_triage' };
const CDX_JUSTIFICATION: Record<VexJustification, string> = {
  component_not_present: 'code_not_present',
  vulnerable_code_not_present: 'code_not_present',
  vulnerable_code_not_in_execute_path: 'code_not_reachable',
  vulnerable_code_cannot_be_controlled_by_adversary: 'requires_environment',
  inline_mitigations_already_exist: 'protected_by_mitigating_control',
};

/** A UUID-formatted id derived from content (RFC 9562 version 8), so that the same input gives the same id. */
export function derivedUuid(...parts: string[]): string {
  const h = sha256(canonicalBytes(parts));
  h[6] = ((h[6] as number) & 0x0f) | 0x80;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = toHex(h.slice(0, 16));
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function renderCycloneDxVex(context: VexContext, assessments: readonly Assessment[]): Record<string, unknown> {
  const list = canonical(assessments, context.products);
  const refOf = (releaseId: string): string => `release:${releaseId}`;
  const source = (id: string): Record<string, string> =>
    id.startsWith('CVE-')
      ? { name: 'NVD', url: `https://nvd.nist.gov/vuln/detail/${id}` }
      : id.startsWith('GHSA')
        ? { name: 'GitHub Advisories', url: `https://github.com/advisories/${id}` }
        : { name: 'EUVD', url: `https://euvd.enisa.europa.eu/vulnerability/${id}` };
  const doc = {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${derivedUuid('cyclonedx-vex', context.documentId, String(context.revision))}`,
    version: context.revision,
    metadata: { timestamp: context.currentReleaseDate, manufacturer: { name: context.publisher.name, url: [context.publisher.namespace] } },
    components: sortedProducts(context.products).map((p) => ({ type: 'firmware', 'bom-ref': refOf(p.releaseId), name: p.name, version: p.version, ...(p.purl ? { purl: p.purl } : {}) })),
    vulnerabilities: list.map((a, i) => ({
      'bom-ref': `vex-${i}-${a.vulnerabilityId}`,
      id: a.vulnerabilityId,
      source: source(a.vulnerabilityId),
      ...(a.aliases && a.aliases.length > 0 ? { references: a.aliases.map((alias) => ({ id: alias, source: source(alias) })) } : {}),
      ...(a.description ? { description: a.description } : {}),
      analysis: {
        state: CDX_STATE[a.status],
        ...(a.justification ? { justification: CDX_JUSTIFICATION[a.justification] } : {}),
        ...(a.status === 'affected' ? { response: ['update'] } : {}),
        detail: [a.impactStatement, a.actionStatement, `Components: ${a.components.map(componentText).join('; ')}`].filter((s) => s).join(' — '),
        lastUpdated: a.assessedAt,
      },
      affects: a.releaseIds.map((id) => ({ ref: refOf(id) })),
    })),
  };
  return checked('cyclonedx-1.6', doc);
}
