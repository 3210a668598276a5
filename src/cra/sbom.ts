/**
 * SBOM ingestion: bytes in, one checked, normalised document out. The steps, in order, each failing with
 * its own code: bound the size → detect the format (CycloneDX JSON, SPDX 2 JSON, SPDX 3.0.1 JSON-LD,
 * SPDX 2 tag-value) → refuse versions we do not read → validate against the official schema (tag-value
 * after conversion to SPDX 2 JSON) → normalise into the component model.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../crypto/encoding.ts';
import type { SbomDocument } from './component.ts';
import { CraError } from './errors.ts';
import { describeProblems, validateDocument, type SchemaName, type SchemaVerdict } from './schema-validation.ts';
import { normaliseCycloneDx } from './sbom-cyclonedx.ts';
import { normaliseSpdx2, normaliseSpdx3 } from './sbom-spdx.ts';
import { spdx2TagValueToJson } from './spdx2-tag-value.ts';

export const MAX_SBOM_BYTES = 64 * 1024 * 1024;
export const MAX_COMPONENTS = 500_000;

export const SPDX3_CONTEXT = 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld';

export interface IngestedSbom {
  /** SHA-256 of the bytes as given: what `ReleaseApproved.sbomSha256` names. */
  readonly sha256: string;
  readonly schema: SchemaName;
  /** The document as JSON (for tag-value, its SPDX 2 JSON form). */
  readonly json: Record<string, unknown>;
  readonly document: SbomDocument;
}

function detectJson(json: Record<string, unknown>): SchemaName {
  if (json['bomFormat'] === 'CycloneDX') {
    const v = json['specVersion'];
    if (v === '1.6') return 'cyclonedx-1.6';
    if (v === '1.7') return 'cyclonedx-1.7';
    throw new CraError('SBOM_VERSION_UNSUPPORTED', `CycloneDX ${String(v)} is not accepted: CycloneDX 1.6 or 1.7 is (BSI TR-03183-2 v2.1.0 requires 1.6 or later)`, '/specVersion');
  }
  if (typeof json['spdxVersion'] === 'string') {
    const v = json['spdxVersion'];
    if (v === 'SPDX-2.2') return 'spdx-2.2';
    if (v === 'SPDX-2.3') return 'spdx-2.3';
    throw new CraError('SBOM_VERSION_UNSUPPORTED', `${v} is not read: SPDX 2.2, 2.3 and 3.0.1 are`, '/spdxVersion');
  }
  if ('@context' in json) {
    const ctx = json['@context'];
    if (ctx === SPDX3_CONTEXT) return 'spdx-3.0.1';
    throw new CraError('SBOM_VERSION_UNSUPPORTED', `JSON-LD context ${JSON.stringify(ctx).slice(0, 120)} is not SPDX 3.0.1's (${SPDX3_CONTEXT})`, '/@context');
  }
  throw new CraError('SBOM_FORMAT_UNKNOWN', 'JSON that is neither CycloneDX (bomFormat), SPDX 2 (spdxVersion) nor SPDX 3 (@context)');
}

function schemaFailure(schema: SchemaName, verdict: SchemaVerdict): CraError {
  const first = verdict.problems[0];
  return new CraError('SBOM_SCHEMA_INVALID', `not valid against the official ${schema} JSON schema: ${describeProblems(verdict)}`, first?.path === '' ? '/' : first?.path);
}

/** Reads an SBOM in any supported format; throws CraError with a code and location on every failure. */
export function ingestSbom(bytes: Uint8Array): IngestedSbom {
  if (bytes.length > MAX_SBOM_BYTES) throw new CraError('SBOM_TOO_LARGE', `SBOM of ${bytes.length} bytes exceeds ${MAX_SBOM_BYTES}`);
  if (bytes.length === 0) throw new CraError('SBOM_FORMAT_UNKNOWN', 'empty file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CraError('SBOM_FORMAT_UNKNOWN', 'not UTF-8 text');
  }
  const digest = toHex(sha256(bytes));
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  let json: Record<string, unknown>;
  let schema: SchemaName;
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new CraError('SBOM_FORMAT_UNKNOWN', `not valid JSON: ${(e as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CraError('SBOM_FORMAT_UNKNOWN', 'JSON that is not an object');
    json = parsed as Record<string, unknown>;
    schema = detectJson(json);
  } else if (/^SPDXVersion:/m.test(trimmed)) {
    json = spdx2TagValueToJson(text);
    schema = detectJson(json);
  } else {
    throw new CraError('SBOM_FORMAT_UNKNOWN', 'neither JSON nor SPDX tag-value (no SPDXVersion line)');
  }
  const verdict = validateDocument(schema, json);
  if (!verdict.valid) throw schemaFailure(schema, verdict);
  const document = schema.startsWith('cyclonedx')
    ? normaliseCycloneDx(json, schema.slice('cyclonedx-'.length))
    : schema === 'spdx-3.0.1'
      ? normaliseSpdx3(json)
      : { ...normaliseSpdx2(json), encoding: trimmed.startsWith('{') ? ('json' as const) : ('tag-value' as const) };
  if (document.components.length > MAX_COMPONENTS) throw new CraError('SBOM_TOO_LARGE', `${document.components.length} components exceed ${MAX_COMPONENTS}`);
  return { sha256: digest, schema, json, document };
}
