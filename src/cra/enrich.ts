/**
 * The "enriched" CycloneDX 1.6 rendering of a release's SBOM: every component of the original (whatever
 * its format), plus what the ledger itself recorded about the release — the deployable images with their
 * SHA-512, SHA-256, file name and size, the release's creator and approval time — written where BSI
 * TR-03183-2 v2.1.0 looks for them, with the TR report of the result stating what is still missing.
 * Nothing is invented: a fact neither the SBOM nor the ledger holds stays missing and is listed.
 *
 * The rendering is deterministic (components sorted by ref, a serial number derived from the original's
 * SHA-256 and the release id), references the original SBOM by its SHA-256 (an external reference of type
 * `bom`), and is validated against the official CycloneDX 1.6 schema before it is returned.
 */
import type { Component, Party, SbomDocument } from './component.ts';
import { CraError } from './errors.ts';
import { describeProblems, validateDocument } from './schema-validation.ts';
import { normaliseCycloneDx } from './sbom-cyclonedx.ts';
import { tr03183Report, type Tr03183Report } from './tr03183.ts';
import { derivedUuid } from './vex.ts';

export interface ReleaseImageFact {
  /** bootloader, application, partition-table, … */
  readonly role: string;
  readonly filename: string;
  readonly sha256: string;
  readonly sha512: string;
  readonly sizeBytes?: number;
  /** Where the deployable form can be fetched, if the manufacturer publishes it. */
  readonly uri?: string;
  /** BSI properties, when the caller knows them from the image format (never guessed here). */
  readonly executable?: 'executable' | 'non-executable';
  readonly archive?: 'archive' | 'no archive';
  readonly structured?: 'structured' | 'unstructured';
}

export interface ReleaseFacts {
  readonly releaseId: string;
  readonly productName: string;
  readonly version: string;
  /** The manufacturer as the ledger knows it (needs an email address or URL to count as creator). */
  readonly creator: { readonly name: string; readonly email?: string; readonly url?: string };
  /** ReleaseApproved time, RFC 3339. */
  readonly approvedAt: string;
  readonly images: readonly ReleaseImageFact[];
}

export interface EnrichedSbom {
  readonly document: Record<string, unknown>;
  readonly report: Tr03183Report;
}

type Json = Record<string, unknown>;

const CDX_HASH: Record<string, string> = { 'SHA-1': 'SHA-1', 'SHA-256': 'SHA-256', 'SHA-384': 'SHA-384', 'SHA-512': 'SHA-512', MD5: 'MD5', 'SHA3-256': 'SHA3-256', 'SHA3-384': 'SHA3-384', 'SHA3-512': 'SHA3-512', 'BLAKE2b-256': 'BLAKE2b-256', 'BLAKE2b-512': 'BLAKE2b-512', BLAKE3: 'BLAKE3' };
const CDX_TYPES = new Set(['application', 'framework', 'library', 'container', 'platform', 'operating-system', 'device', 'device-driver', 'firmware', 'file', 'machine-learning-model', 'data', 'cryptographic-asset']);

function organization(p: Party | { name: string; email?: string; url?: string }): Json {
  return {
    ...(p.name ? { name: p.name } : {}),
    ...(p.url ? { url: [p.url] } : {}),
    ...(p.email ? { contact: [{ email: p.email }] } : {}),
  };
}

function props(list: [string, string | undefined][]): Json[] {
  return list.filter((e): e is [string, string] => e[1] !== undefined).map(([name, value]) => ({ name, value }));
}

function cdxComponent(c: Component): Json {
  const hashes = (of: 'component' | 'distribution' | 'source'): Json[] => c.hashes.filter((h) => h.of === of && CDX_HASH[h.alg]).map((h) => ({ alg: CDX_HASH[h.alg], content: h.value }));
  const licenses = [
    ...c.concludedLicences.map((l) => ({ expression: l, acknowledgement: 'concluded' })),
    ...c.declaredLicences.map((l) => ({ expression: l, acknowledgement: 'declared' })),
  ];
  const creator = c.creators.find((p) => p.kind === 'organization' || p.email || p.url);
  const distribution = hashes('distribution');
  const externalReferences = [
    ...(c.deployableUri || distribution.length > 0 ? [{ type: 'distribution', url: c.deployableUri ?? `urn:flashtrail:unpublished:${encodeURIComponent(c.ref)}`, ...(distribution.length > 0 ? { hashes: distribution } : {}) }] : []),
    ...(c.sourceUri ? [{ type: 'source-distribution', url: c.sourceUri, ...(hashes('source').length > 0 ? { hashes: hashes('source') } : {}) }] : []),
    ...(c.securityTxtUri ? [{ type: 'rfc-9116', url: c.securityTxtUri }] : []),
  ];
  const properties = props([
    ['bsi:component:filename', c.filename],
    ['bsi:component:executable', c.executable],
    ['bsi:component:archive', c.archive],
    ['bsi:component:structured', c.structured],
    ['bsi:component:effectiveLicence', c.effectiveLicence],
  ]);
  return {
    type: c.type && CDX_TYPES.has(c.type) ? c.type : 'library',
    'bom-ref': c.ref,
    ...(c.supplier ? { supplier: organization(c.supplier) } : {}),
    ...(creator ? { manufacturer: organization(creator) } : {}),
    ...(c.group ? { group: c.group } : {}),
    name: c.name,
    ...(c.version ? { version: c.version } : {}),
    ...(hashes('component').length > 0 ? { hashes: hashes('component') } : {}),
    ...(licenses.length > 0 ? { licenses } : {}),
    ...(c.cpes[0] ? { cpe: c.cpes[0] } : {}),
    ...(c.purls[0] ? { purl: c.purls[0] } : {}),
    ...(c.swid ? { swid: { tagId: c.swid, name: c.name } } : {}),
    ...(externalReferences.length > 0 ? { externalReferences } : {}),
    ...(properties.length > 0 ? { properties } : {}),
  };
}

export function renderEnrichedCycloneDx(original: SbomDocument, originalSha256: string, facts: ReleaseFacts): EnrichedSbom {
  const releaseRef = `release:${facts.releaseId}`;
  const creator = { name: facts.creator.name, ...(facts.creator.email ? { email: facts.creator.email } : {}), ...(facts.creator.url ? { url: facts.creator.url } : {}) };
  const images: Json[] = [...facts.images]
    .sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0))
    .map((img) => ({
      type: 'firmware',
      'bom-ref': `${releaseRef}/image:${img.role}`,
      manufacturer: organization(creator),
      name: `${facts.productName} ${img.role} image`,
      version: facts.version,
      hashes: [
        { alg: 'SHA-256', content: img.sha256 },
        { alg: 'SHA-512', content: img.sha512 },
      ],
      externalReferences: [
        {
          type: 'distribution',
          url: img.uri ?? `urn:flashtrail:release:${encodeURIComponent(facts.releaseId)}:image:${encodeURIComponent(img.role)}`,
          hashes: [{ alg: 'SHA-512', content: img.sha512 }],
        },
      ],
      properties: props([
        ['bsi:component:filename', img.filename],
        ['bsi:component:executable', img.executable],
        ['bsi:component:archive', img.archive],
        ['bsi:component:structured', img.structured],
        ...(img.sizeBytes !== undefined ? ([['flashtrail:image:sizeBytes', String(img.sizeBytes)]] as [string, string][]) : []),
      ]),
    }));
  const components = [...original.components].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0)).map(cdxComponent);
  const refs = new Set(original.components.map((c) => c.ref));
  const dependencies = [
    { ref: releaseRef, dependsOn: [...images.map((i) => i['bom-ref'] as string), ...(original.primaryRef && refs.has(original.primaryRef) ? [original.primaryRef] : [])].sort() },
    ...images.map((i) => ({ ref: i['bom-ref'] as string, dependsOn: [] })),
    ...[...original.components]
      .filter((c) => c.dependenciesStated)
      .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0))
      .map((c) => ({ ref: c.ref, dependsOn: [...new Set(c.dependsOn.filter((d) => refs.has(d)))].sort() })),
  ];
  const byAggregate = new Map<string, string[]>();
  for (const c of original.components) if (c.dependencyCompleteness) byAggregate.set(c.dependencyCompleteness, [...(byAggregate.get(c.dependencyCompleteness) ?? []), c.ref]);
  // The ledger's recipe is the complete list of the release's images (and the SBOM's root it was built from).
  byAggregate.set('complete', [...(byAggregate.get('complete') ?? []), releaseRef, ...images.map((i) => i['bom-ref'] as string)]);
  const compositions = [...byAggregate.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([aggregate, list]) => ({ aggregate, dependencies: [...list].sort() }));
  const doc = {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${derivedUuid('enriched-sbom', originalSha256, facts.releaseId)}`,
    version: 1,
    metadata: {
      timestamp: facts.approvedAt,
      manufacturer: organization(creator),
      component: {
        type: 'firmware',
        'bom-ref': releaseRef,
        manufacturer: organization(creator),
        name: facts.productName,
        version: facts.version,
        properties: props([['flashtrail:releaseId', facts.releaseId]]),
      },
      properties: props([
        ['flashtrail:enrichedFrom', `${original.format} ${original.specVersion} ${original.encoding}`],
        ['flashtrail:enrichedFromSha256', originalSha256],
      ]),
    },
    components: [...images, ...components],
    externalReferences: [{ type: 'bom', url: original.uri ?? `urn:sha256:${originalSha256}`, comment: 'the SBOM this rendering was made from', hashes: [{ alg: 'SHA-256', content: originalSha256 }] }],
    dependencies,
    compositions,
  };
  const verdict = validateDocument('cyclonedx-1.6', doc);
  if (!verdict.valid) throw new CraError('RENDER_SCHEMA_INVALID', `enriched CycloneDX 1.6 is not valid against the official schema: ${describeProblems(verdict)}`);
  // What is still missing is judged on the rendering itself, read back as any CycloneDX SBOM is.
  return { document: doc, report: tr03183Report(normaliseCycloneDx(doc, '1.6')) };
}
