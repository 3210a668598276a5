/**
 * CycloneDX 1.6 / 1.7 JSON (already schema-valid) → the component model. Reads the fields TR-03183-2 asks
 * for where the CycloneDX mapping of the BSI puts them: `bsi:component:*` properties (BSI's CycloneDX
 * property taxonomy, github.com/BSI-Bund/tr-03183-cyclonedx-property-taxonomy, v0.1.2 for TR v2.1.0),
 * licence acknowledgement (`concluded` = distribution licence, `declared` = original licence), the
 * deployable form's hash on an external reference of type `distribution`.
 */
import type { Completeness, Component, ComponentHash, HashAlgorithm, Party, SbomDocument } from './component.ts';
import { canonicalPurl } from './purl.ts';

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

const HASH_ALGS: Record<string, HashAlgorithm> = {
  MD5: 'MD5',
  'SHA-1': 'SHA-1',
  'SHA-256': 'SHA-256',
  'SHA-384': 'SHA-384',
  'SHA-512': 'SHA-512',
  'SHA3-256': 'SHA3-256',
  'SHA3-384': 'SHA3-384',
  'SHA3-512': 'SHA3-512',
  'BLAKE2b-256': 'BLAKE2b-256',
  'BLAKE2b-512': 'BLAKE2b-512',
  BLAKE3: 'BLAKE3',
};

function hashesOf(list: unknown, of: ComponentHash['of']): ComponentHash[] {
  return asArray(list).flatMap((h) => {
    const o = asObject(h);
    const alg = asString(o?.['alg']);
    const content = asString(o?.['content']);
    return alg && content ? [{ alg: HASH_ALGS[alg] ?? 'OTHER', value: content.toLowerCase(), of }] : [];
  });
}

function organization(v: unknown): Party[] {
  const o = asObject(v);
  if (!o) return [];
  const name = asString(o['name']);
  const url = asArray(o['url']).map(asString).find((u) => u !== undefined);
  const contacts = asArray(o['contact']).map(asObject).filter((c): c is Json => c !== undefined);
  const email = contacts.map((c) => asString(c['email'])).find((e) => e !== undefined);
  return [{ kind: 'organization', ...(name ? { name } : {}), ...(email ? { email } : {}), ...(url ? { url } : {}) }];
}

function people(v: unknown): Party[] {
  return asArray(v).flatMap((p) => {
    const o = asObject(p);
    if (!o) return [];
    const name = asString(o['name']);
    const email = asString(o['email']);
    return [{ kind: 'person' as const, ...(name ? { name } : {}), ...(email ? { email } : {}) }];
  });
}

interface Licences {
  concluded: string[];
  declared: string[];
  unqualified: string[];
}

function licencesOf(list: unknown): Licences {
  const out: Licences = { concluded: [], declared: [], unqualified: [] };
  for (const entry of asArray(list)) {
    const o = asObject(entry);
    if (!o) continue;
    const licence = asObject(o['license']);
    const text = asString(o['expression']) ?? asString(licence?.['id']) ?? asString(licence?.['name']);
    if (!text) continue;
    const ack = asString(o['acknowledgement']) ?? asString(licence?.['acknowledgement']);
    (ack === 'concluded' ? out.concluded : ack === 'declared' ? out.declared : out.unqualified).push(text);
  }
  return out;
}

function property(o: Json, name: string): string | undefined {
  for (const p of asArray(o['properties'])) {
    const po = asObject(p);
    if (po && po['name'] === name) return asString(po['value']) ?? '';
  }
  return undefined;
}

function externalRef(o: Json, type: string): Json | undefined {
  return asArray(o['externalReferences']).map(asObject).find((r) => r?.['type'] === type);
}

interface Walk {
  json: Json;
  ref: string;
  contains: string[];
}

/** Depth-first over components and their nested components; a component without bom-ref gets a path ref. */
function walk(list: unknown, prefix: string, out: Walk[]): string[] {
  const refs: string[] = [];
  asArray(list).forEach((c, i) => {
    const json = asObject(c);
    if (!json) return;
    const ref = asString(json['bom-ref']) ?? `${prefix}/${i}`;
    const entry: Walk = { json, ref, contains: [] };
    out.push(entry);
    refs.push(ref);
    entry.contains = walk(json['components'], `${ref}/components`, out);
  });
  return refs;
}

export function normaliseCycloneDx(doc: Json, specVersion: string): SbomDocument {
  const metadata = asObject(doc['metadata']) ?? {};
  const walked: Walk[] = [];
  const primary = asObject(metadata['component']);
  if (primary) walk([primary], '#/metadata/component', walked);
  walk(doc['components'], '#/components', walked);

  const dependencies = new Map<string, string[]>();
  for (const d of asArray(doc['dependencies'])) {
    const o = asObject(d);
    const ref = asString(o?.['ref']);
    if (o && ref) dependencies.set(ref, asArray(o['dependsOn']).map(asString).filter((s): s is string => s !== undefined));
  }
  // Completeness per component: the aggregate of the first composition listing the ref among its
  // dependencies (a statement about that component's dependency list) or its assemblies.
  const completeness = new Map<string, Completeness>();
  for (const c of asArray(doc['compositions'])) {
    const o = asObject(c);
    const aggregate = asString(o?.['aggregate']) as Completeness | undefined;
    if (!o || !aggregate) continue;
    for (const key of ['dependencies', 'assemblies']) {
      for (const r of asArray(o[key])) {
        const ref = asString(r);
        if (ref && !completeness.has(ref)) completeness.set(ref, aggregate);
      }
    }
  }

  const components: Component[] = walked.map(({ json, ref, contains }) => {
    const licences = licencesOf(json['licenses']);
    const distribution = externalRef(json, 'distribution');
    const source = externalRef(json, 'source-distribution') ?? externalRef(json, 'vcs');
    const creators = [...organization(json['manufacturer']), ...people(json['authors'])];
    const author = asString(json['author']);
    if (author && creators.length === 0) creators.push({ kind: 'unknown', name: author });
    const purl = asString(json['purl']);
    const cpe = asString(json['cpe']);
    const swid = asString(asObject(json['swid'])?.['tagId']);
    const supplier = organization(json['supplier'])[0];
    const group = asString(json['group']);
    const version = asString(json['version']);
    const type = asString(json['type']);
    const filename = property(json, 'bsi:component:filename');
    const deployableUri = asString(distribution?.['url']);
    const sourceUri = asString(source?.['url']);
    const securityTxtUri = asString(externalRef(json, 'rfc-9116')?.['url']);
    const executable = property(json, 'bsi:component:executable');
    const archive = property(json, 'bsi:component:archive');
    const structured = property(json, 'bsi:component:structured');
    const effectiveLicence = property(json, 'bsi:component:effectiveLicence');
    const dependencyCompleteness = completeness.get(ref);
    return {
      ref,
      name: asString(json['name']) ?? '',
      ...(group ? { group } : {}),
      ...(version ? { version } : {}),
      ...(type ? { type } : {}),
      purls: purl ? [canonicalPurl(purl)] : [],
      cpes: cpe ? [cpe] : [],
      ...(swid ? { swid } : {}),
      ...(supplier ? { supplier } : {}),
      creators,
      concludedLicences: licences.concluded,
      declaredLicences: licences.declared,
      unqualifiedLicences: licences.unqualified,
      hashes: [
        ...hashesOf(json['hashes'], 'component'),
        ...hashesOf(distribution?.['hashes'], 'distribution'),
        ...hashesOf(asObject(externalRef(json, 'source-distribution'))?.['hashes'], 'source'),
      ],
      ...(filename !== undefined ? { filename } : {}),
      ...(deployableUri ? { deployableUri } : {}),
      ...(sourceUri ? { sourceUri } : {}),
      ...(securityTxtUri ? { securityTxtUri } : {}),
      ...(executable !== undefined ? { executable } : {}),
      ...(archive !== undefined ? { archive } : {}),
      ...(structured !== undefined ? { structured } : {}),
      ...(effectiveLicence !== undefined ? { effectiveLicence } : {}),
      dependsOn: dependencies.get(ref) ?? [],
      dependenciesStated: dependencies.has(ref),
      ...(dependencyCompleteness ? { dependencyCompleteness } : {}),
      contains,
    };
  });

  const serial = asString(doc['serialNumber']);
  const bomVersion = typeof doc['version'] === 'number' ? doc['version'] : 1;
  const timestamp = asString(metadata['timestamp']);
  const name = asString(primary?.['name']);
  const primaryRef = primary ? walked[0]?.ref : undefined;
  return {
    format: 'CycloneDX',
    specVersion,
    encoding: 'json',
    ...(name ? { name } : {}),
    ...(serial ? { uri: `urn:cdx:${serial.replace(/^urn:uuid:/, '')}/${bomVersion}` } : {}),
    creators: [...organization(metadata['manufacturer']), ...people(metadata['authors'])],
    ...(timestamp ? { timestamp } : {}),
    ...(primaryRef ? { primaryRef } : {}),
    components,
    vulnerabilityCount: asArray(doc['vulnerabilities']).length,
  };
}
