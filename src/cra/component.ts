/**
 * One component model for every SBOM format we ingest. Each field holds what the document said, in the
 * document's own words where the formats differ (a licence expression stays an SPDX expression), so that
 * the TR-03183-2 report can say exactly what is present and what is missing, and the component index can
 * match by purl, CPE or name and version without knowing where the component came from.
 */

export type SbomFormat = 'CycloneDX' | 'SPDX';
export type SbomEncoding = 'json' | 'json-ld' | 'tag-value';

/** A person, organisation or tool, as the document names it. */
export interface Party {
  readonly kind: 'organization' | 'person' | 'tool' | 'unknown';
  readonly name?: string;
  readonly email?: string;
  readonly url?: string;
}

export type HashAlgorithm = 'MD5' | 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512' | 'SHA3-256' | 'SHA3-384' | 'SHA3-512' | 'BLAKE2b-256' | 'BLAKE2b-512' | 'BLAKE3' | 'OTHER';

export interface ComponentHash {
  readonly alg: HashAlgorithm;
  /** Lowercase hex. */
  readonly value: string;
  /**
   * What was hashed: `component` (the format's own hash field: CycloneDX `hashes`, SPDX package checksums),
   * `distribution` (the deployable form: a CycloneDX external reference of type distribution, or an SPDX 3
   * distribution artifact), `source` (source-distribution).
   */
  readonly of: 'component' | 'distribution' | 'source';
}

/** A dependency statement's completeness, in CycloneDX's vocabulary (SPDX's values are mapped onto it). */
export type Completeness = 'complete' | 'incomplete' | 'incomplete_first_party_only' | 'incomplete_third_party_only' | 'unknown' | 'not_specified';

export interface Component {
  /** The document's own id: CycloneDX bom-ref, SPDX SPDXID / spdxId. Unique within the SBOM. */
  readonly ref: string;
  readonly name: string;
  readonly group?: string;
  readonly version?: string;
  /** CycloneDX type or SPDX primary purpose, lowercased (library, firmware, application, file, …). */
  readonly type?: string;
  /** Canonical purls (packageurl-js normal form). */
  readonly purls: readonly string[];
  /** CPE 2.2 or 2.3 names, as written. */
  readonly cpes: readonly string[];
  readonly swid?: string;
  readonly supplier?: Party;
  /** Who created the component (CycloneDX manufacturer/authors, SPDX originator / originatedBy). */
  readonly creators: readonly Party[];
  /** SPDX licence expressions the SBOM creator concluded (TR: distribution licences). */
  readonly concludedLicences: readonly string[];
  /** SPDX licence expressions the component's creator declared (TR: original licences). */
  readonly declaredLicences: readonly string[];
  /** Licence statements whose acknowledgement the document does not say (CycloneDX before 1.6 style). */
  readonly unqualifiedLicences: readonly string[];
  readonly hashes: readonly ComponentHash[];
  /** The component's actual file name, not a path. */
  readonly filename?: string;
  readonly deployableUri?: string;
  readonly sourceUri?: string;
  readonly securityTxtUri?: string;
  /** BSI TR-03183 properties as the document states them (`bsi:component:*` in CycloneDX). */
  readonly executable?: string;
  readonly archive?: string;
  readonly structured?: string;
  readonly effectiveLicence?: string;
  /** Refs of the components this one depends on (direct). */
  readonly dependsOn: readonly string[];
  /** Whether the document states this component's dependencies at all (an empty list can be a statement). */
  readonly dependenciesStated: boolean;
  /** Completeness of this component's dependency list, where the document says it. */
  readonly dependencyCompleteness?: Completeness;
  /** Refs of the components this one contains (CycloneDX nested components, SPDX CONTAINS). */
  readonly contains: readonly string[];
}

export interface SbomDocument {
  readonly format: SbomFormat;
  /** `1.6`, `1.7`, `2.2`, `2.3`, `3.0.1`. */
  readonly specVersion: string;
  readonly encoding: SbomEncoding;
  readonly name?: string;
  /**
   * The SBOM's URI: CycloneDX `urn:cdx:<serial>/<version>` (BOM-Link), SPDX 2 document namespace, SPDX 3
   * Sbom spdxId.
   */
  readonly uri?: string;
  readonly creators: readonly Party[];
  /** RFC 3339 as written. */
  readonly timestamp?: string;
  /** The component the SBOM describes (CycloneDX metadata.component, SPDX DESCRIBES / rootElement). */
  readonly primaryRef?: string;
  readonly components: readonly Component[];
  /** Vulnerability statements found inside the SBOM (TR-03183-2 §3.1: an SBOM MUST NOT carry them). */
  readonly vulnerabilityCount: number;
}

/** Parses a "Organization: Name (email)" / "Person: Name (email)" / "Tool: name-version" SPDX 2 party. */
export function parseSpdx2Party(text: string | undefined): Party | undefined {
  if (text === undefined || text === '' || text === 'NOASSERTION' || text === 'NONE') return undefined;
  const m = /^(Organization|Person|Tool):\s*(.*)$/.exec(text.trim());
  if (m === null) return { kind: 'unknown', name: text.trim() };
  const kind = m[1] === 'Organization' ? 'organization' : m[1] === 'Person' ? 'person' : 'tool';
  const rest = (m[2] ?? '').trim();
  const withEmail = /^(.*?)\s*\(([^()]*)\)\s*$/.exec(rest);
  if (withEmail !== null) {
    const inner = (withEmail[2] ?? '').trim();
    const name = (withEmail[1] ?? '').trim();
    if (/^[^\s@]+@[^\s@]+$/.test(inner)) return { kind, ...(name ? { name } : {}), email: inner };
    if (/^https?:\/\//.test(inner)) return { kind, ...(name ? { name } : {}), url: inner };
    return { kind, name: rest };
  }
  return { kind, name: rest };
}

/** A party the TR counts as identifying a creator: one with an email address or a URL. */
export function hasContact(party: Party): boolean {
  return party.kind !== 'tool' && (party.email !== undefined || party.url !== undefined);
}
