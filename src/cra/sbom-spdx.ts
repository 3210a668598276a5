/**
 * SPDX 2.2 / 2.3 JSON and SPDX 3.0.1 JSON-LD (already schema-valid) → the component model.
 *
 * SPDX 2: a package's `checksums` are of the package file as distributed, so they count as the deployable
 * form's hash; `downloadLocation` is the source when it is a VCS location (`git+https://…`, as
 * esp-idf-sbom writes it) and the deployable form otherwise; `DEPENDS_ON NONE` states an empty, complete
 * dependency list and `DEPENDS_ON NOASSERTION` an unknown one; SPDX 2 has no other completeness statement.
 *
 * SPDX 3: packages and files with their `verifiedUsing` hashes, external identifiers (cpe22, cpe23,
 * packageUrl, swid), `originatedBy` agents, and relationships `dependsOn` / `contains` (with their
 * `completeness`), `hasConcludedLicense` / `hasDeclaredLicense`, `hasDistributionArtifact` (the file that
 * is the package's deployable form: its name, hashes and purposes).
 */
import type { Completeness, Component, ComponentHash, HashAlgorithm, Party, SbomDocument } from './component.ts';
import { parseSpdx2Party } from './component.ts';
import { canonicalPurl } from './purl.ts';

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const asserted = (v: string | undefined): string | undefined => (v === undefined || v === 'NOASSERTION' ? undefined : v);

const SPDX_HASH: Record<string, HashAlgorithm> = {
  MD5: 'MD5',
  SHA1: 'SHA-1',
  SHA256: 'SHA-256',
  SHA384: 'SHA-384',
  SHA512: 'SHA-512',
  'SHA3-256': 'SHA3-256',
  'SHA3-384': 'SHA3-384',
  'SHA3-512': 'SHA3-512',
  'BLAKE2b-256': 'BLAKE2b-256',
  'BLAKE2b-512': 'BLAKE2b-512',
  BLAKE3: 'BLAKE3',
  // SPDX 3 spells them in lowercase.
  md5: 'MD5',
  sha1: 'SHA-1',
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
  'sha3-256': 'SHA3-256',
  'sha3-384': 'SHA3-384',
  'sha3-512': 'SHA3-512',
  'blake2b256': 'BLAKE2b-256',
  'blake2b512': 'BLAKE2b-512',
  blake3: 'BLAKE3',
};

const isVcs = (uri: string): boolean => /^(git|hg|svn|bzr)\+/.test(uri) || /\.git(@|$|#)/.test(uri);

export function normaliseSpdx2(doc: Json): SbomDocument {
  const creation = asObject(doc['creationInfo']) ?? {};
  const relationships = asArray(doc['relationships']).map(asObject).filter((r): r is Json => r !== undefined);
  const dependsOn = new Map<string, string[]>();
  const stated = new Set<string>();
  const completeness = new Map<string, Completeness>();
  const contains = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, k: string, v: string): void => void map.set(k, [...(map.get(k) ?? []), v]);
  let primaryRef: string | undefined = asString(asArray(doc['documentDescribes'])[0]);
  for (const r of relationships) {
    const from = asString(r['spdxElementId']) ?? '';
    const type = asString(r['relationshipType']) ?? '';
    const to = asString(r['relatedSpdxElement']) ?? '';
    if (type === 'DESCRIBES' && from === doc['SPDXID'] && primaryRef === undefined) primaryRef = to;
    if (type === 'DESCRIBED_BY' && to === doc['SPDXID'] && primaryRef === undefined) primaryRef = from;
    if (type === 'DEPENDS_ON' || type === 'DEPENDENCY_OF') {
      const [a, b] = type === 'DEPENDS_ON' ? [from, to] : [to, from];
      stated.add(a);
      if (b === 'NONE') completeness.set(a, 'complete');
      else if (b === 'NOASSERTION') completeness.set(a, 'unknown');
      else add(dependsOn, a, b);
    }
    if (type === 'CONTAINS' && to !== 'NONE' && to !== 'NOASSERTION') add(contains, from, to);
    if (type === 'CONTAINED_BY') add(contains, to, from);
  }

  const components: Component[] = asArray(doc['packages']).map((p): Component => {
    const pkg = asObject(p) ?? {};
    const ref = asString(pkg['SPDXID']) ?? '';
    const refs = asArray(pkg['externalRefs']).map(asObject).filter((r): r is Json => r !== undefined);
    const locators = (types: string[]): string[] => refs.filter((r) => types.includes(String(r['referenceType']))).map((r) => String(r['referenceLocator']));
    const hashes: ComponentHash[] = asArray(pkg['checksums']).flatMap((c) => {
      const o = asObject(c);
      const alg = asString(o?.['algorithm']);
      const value = asString(o?.['checksumValue']);
      return alg && value ? [{ alg: SPDX_HASH[alg] ?? 'OTHER', value: value.toLowerCase(), of: 'distribution' as const }] : [];
    });
    const download = asserted(asString(pkg['downloadLocation']));
    const concluded = asserted(asString(pkg['licenseConcluded']));
    const declared = asserted(asString(pkg['licenseDeclared']));
    const originator = parseSpdx2Party(asString(pkg['originator']));
    const supplier = parseSpdx2Party(asString(pkg['supplier']));
    const version = asString(pkg['versionInfo']);
    const filename = asString(pkg['packageFileName']);
    const purpose = asString(pkg['primaryPackagePurpose']);
    const swid = locators(['swid'])[0];
    const dependencyCompleteness = completeness.get(ref);
    return {
      ref,
      name: asString(pkg['name']) ?? '',
      ...(version ? { version } : {}),
      ...(purpose ? { type: purpose.toLowerCase() } : {}),
      purls: locators(['purl']).map(canonicalPurl),
      cpes: locators(['cpe23Type', 'cpe22Type']),
      ...(swid ? { swid } : {}),
      ...(supplier ? { supplier } : {}),
      creators: originator ? [originator] : [],
      concludedLicences: concluded && concluded !== 'NONE' ? [concluded] : [],
      declaredLicences: declared && declared !== 'NONE' ? [declared] : [],
      unqualifiedLicences: [],
      hashes,
      ...(filename ? { filename } : {}),
      ...(download && download !== 'NONE' && !isVcs(download) ? { deployableUri: download } : {}),
      ...(download && download !== 'NONE' && isVcs(download) ? { sourceUri: download } : {}),
      dependsOn: dependsOn.get(ref) ?? [],
      dependenciesStated: stated.has(ref),
      ...(dependencyCompleteness ? { dependencyCompleteness } : {}),
      contains: contains.get(ref) ?? [],
    };
  });

  const name = asString(doc['name']);
  const uri = asString(doc['documentNamespace']);
  const timestamp = asString(creation['created']);
  return {
    format: 'SPDX',
    specVersion: String(doc['spdxVersion']).replace(/^SPDX-/, ''),
    encoding: 'json',
    ...(name ? { name } : {}),
    ...(uri ? { uri } : {}),
    creators: asArray(creation['creators']).map((c) => parseSpdx2Party(asString(c))).filter((c): c is Party => c !== undefined),
    ...(timestamp ? { timestamp } : {}),
    ...(primaryRef ? { primaryRef } : {}),
    components,
    vulnerabilityCount: 0,
  };
}

// ---------------------------------------------------------------------------------------------------------
// SPDX 3.0.1

const SPDX3_COMPLETENESS: Record<string, Completeness> = { complete: 'complete', incomplete: 'incomplete', noAssertion: 'unknown' };

function spdx3Hashes(element: Json | undefined, of: ComponentHash['of']): ComponentHash[] {
  return asArray(element?.['verifiedUsing']).flatMap((h) => {
    const o = asObject(h);
    const alg = asString(o?.['algorithm']);
    const value = asString(o?.['hashValue']);
    return o?.['type'] === 'Hash' && alg && value ? [{ alg: SPDX_HASH[alg] ?? 'OTHER', value: value.toLowerCase(), of }] : [];
  });
}

export function normaliseSpdx3(doc: Json): SbomDocument {
  const graph = asArray(doc['@graph']).map(asObject).filter((e): e is Json => e !== undefined);
  const byId = new Map<string, Json>();
  for (const e of graph) {
    const id = asString(e['spdxId']) ?? asString(e['@id']);
    if (id) byId.set(id, e);
  }
  const agent = (id: unknown): Party | undefined => {
    const e = byId.get(String(id));
    if (!e) return undefined;
    const kind = e['type'] === 'Organization' ? 'organization' : e['type'] === 'Person' ? 'person' : e['type'] === 'Tool' ? 'tool' : 'unknown';
    const ids = asArray(e['externalIdentifier']).map(asObject);
    const email = ids.find((i) => i?.['externalIdentifierType'] === 'email')?.['identifier'];
    const url = ids.find((i) => i?.['externalIdentifierType'] === 'urlScheme')?.['identifier'] ?? asArray(e['externalRef']).map(asObject).map((r) => asArray(r?.['locator'])[0]).find((l) => typeof l === 'string');
    const name = asString(e['name']);
    return { kind, ...(name ? { name } : {}), ...(typeof email === 'string' ? { email } : {}), ...(typeof url === 'string' ? { url } : {}) };
  };
  const relationships = graph.filter((e) => e['type'] === 'Relationship' || e['type'] === 'LifecycleScopedRelationship');
  const related = (from: string, type: string): { to: string[]; completeness?: Completeness }[] =>
    relationships
      .filter((r) => r['from'] === from && r['relationshipType'] === type)
      .map((r) => {
        const c = SPDX3_COMPLETENESS[String(r['completeness'])];
        // NoneElement / NoAssertionElement stand for "none" and "unknown", not for an element.
        const to = asArray(r['to']).map(String).filter((t) => !/\/Core\/(NoneElement|NoAssertionElement)$/.test(t));
        return { to, ...(c ? { completeness: c } : {}) };
      });
  const licenceText = (id: string): string | undefined => {
    const e = byId.get(id);
    return asString(e?.['simplelicensing_licenseExpression']) ?? asString(e?.['name']) ?? (e ? undefined : id);
  };

  const sbom = graph.find((e) => e['type'] === 'software_Sbom') ?? graph.find((e) => e['type'] === 'SpdxDocument');
  const creationInfoId = sbom?.['creationInfo'];
  const creationInfo = asObject(creationInfoId) ?? byId.get(String(creationInfoId)) ?? graph.find((e) => e['type'] === 'CreationInfo');
  const primaryRef = asString(asArray(sbom?.['rootElement'])[0]);

  const components: Component[] = graph
    .filter((e) => e['type'] === 'software_Package' || (e['type'] === 'software_File' && !relationships.some((r) => r['relationshipType'] === 'hasDistributionArtifact' && asArray(r['to']).includes(e['spdxId']))))
    .map((e): Component => {
      const ref = String(e['spdxId']);
      const ids = asArray(e['externalIdentifier']).map(asObject).filter((i): i is Json => i !== undefined);
      const identifiers = (types: string[]): string[] => ids.filter((i) => types.includes(String(i['externalIdentifierType']))).map((i) => String(i['identifier']));
      const purl = asString(e['software_packageUrl']);
      const artifact = related(ref, 'hasDistributionArtifact')[0]?.to[0];
      const file = artifact !== undefined ? byId.get(artifact) : e['type'] === 'software_File' ? e : undefined;
      const purposes = [...asArray(file?.['software_primaryPurpose'] ?? e['software_primaryPurpose']), ...asArray(file?.['software_additionalPurpose'] ?? e['software_additionalPurpose'])].map(String);
      const deps = related(ref, 'dependsOn');
      const dependencyCompleteness = deps.find((d) => d.completeness)?.completeness;
      const supplier = agent(e['suppliedBy']);
      const version = asString(e['software_packageVersion']);
      const type = asString(e['software_primaryPurpose']);
      const filename = asString(file?.['name']);
      const download = asString(e['software_downloadLocation']);
      const swid = identifiers(['swid'])[0];
      return {
        ref,
        name: asString(e['name']) ?? '',
        ...(version ? { version } : {}),
        ...(type ? { type: type.toLowerCase() } : {}),
        purls: [...(purl ? [purl] : []), ...identifiers(['packageUrl'])].map(canonicalPurl),
        cpes: identifiers(['cpe23', 'cpe22']),
        ...(swid ? { swid } : {}),
        ...(supplier ? { supplier } : {}),
        creators: asArray(e['originatedBy']).map(agent).filter((a): a is Party => a !== undefined),
        concludedLicences: related(ref, 'hasConcludedLicense').flatMap((r) => r.to.map(licenceText)).filter((s): s is string => s !== undefined),
        declaredLicences: related(ref, 'hasDeclaredLicense').flatMap((r) => r.to.map(licenceText)).filter((s): s is string => s !== undefined),
        unqualifiedLicences: [],
        hashes: [...(file !== e ? spdx3Hashes(e, 'component') : []), ...spdx3Hashes(file, 'distribution')],
        ...(filename ? { filename } : {}),
        ...(download && !isVcs(download) ? { deployableUri: download } : {}),
        ...(download && isVcs(download) ? { sourceUri: download } : {}),
        // The TR maps its three file properties onto SPDX 3 purposes; a purpose stated is a property stated.
        ...(purposes.length > 0
          ? {
              executable: purposes.includes('executable') ? 'executable' : 'non-executable',
              archive: purposes.includes('archive') ? 'archive' : 'no archive',
              structured: purposes.includes('container') || purposes.includes('firmware') ? 'structured' : 'unstructured',
            }
          : {}),
        dependsOn: deps.flatMap((d) => d.to),
        dependenciesStated: deps.length > 0,
        ...(dependencyCompleteness ? { dependencyCompleteness } : {}),
        contains: related(ref, 'contains').flatMap((r) => r.to),
      };
    });

  const uri = asString(sbom?.['spdxId']);
  const name = asString(sbom?.['name']);
  const timestamp = asString(creationInfo?.['created']);
  return {
    format: 'SPDX',
    specVersion: '3.0.1',
    encoding: 'json-ld',
    ...(name ? { name } : {}),
    ...(uri ? { uri } : {}),
    creators: asArray(creationInfo?.['createdBy']).map(agent).filter((a): a is Party => a !== undefined),
    ...(timestamp ? { timestamp } : {}),
    ...(primaryRef ? { primaryRef } : {}),
    components,
    vulnerabilityCount: graph.filter((e) => typeof e['type'] === 'string' && (e['type'] === 'security_Vulnerability' || (e['type'] as string).startsWith('security_Vex'))).length,
  };
}
