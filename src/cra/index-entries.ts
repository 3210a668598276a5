/**
 * What the component index keeps of an SBOM: each component's identity (purls, CPEs, name, group) and
 * version, as the signed SbomAttached event carries it. The CLI computes it before signing and the ledger
 * computes it again from the stored bytes before accepting the event, so the index follows from the log.
 */
import type { SbomDocument } from './component.ts';
import { CraError } from './errors.ts';

export interface IndexedComponentEntry {
  readonly ref: string;
  readonly name: string;
  readonly group?: string;
  readonly version?: string;
  readonly purls: string[];
  readonly cpes: string[];
}

/** Bounds of one SbomAttached event (schemas/admin-events.ts): a firmware SBOM lists tens to hundreds of components. */
export const MAX_INDEXED_COMPONENTS = 1000;
const MAX_IDS = 8;

export function indexEntries(doc: SbomDocument): IndexedComponentEntry[] {
  if (doc.components.length > MAX_INDEXED_COMPONENTS) throw new CraError('SBOM_TOO_LARGE', `${doc.components.length} components: the component index takes at most ${MAX_INDEXED_COMPONENTS} per SBOM`);
  return doc.components.map((c) => {
    if (c.purls.length > MAX_IDS || c.cpes.length > MAX_IDS) throw new CraError('SBOM_TOO_LARGE', `component ${c.ref} has ${c.purls.length} purls and ${c.cpes.length} CPEs; the index takes at most ${MAX_IDS} of each`, c.ref);
    return {
      ref: c.ref,
      name: c.name,
      ...(c.group !== undefined && c.group !== '' ? { group: c.group } : {}),
      ...(c.version !== undefined && c.version !== '' ? { version: c.version } : {}),
      purls: [...c.purls],
      cpes: [...c.cpes],
    };
  });
}

/** The SbomAttached data for a release's SBOM (without the event's envelope). */
export function sbomAttachment(releaseId: string, ingested: { readonly sha256: string; readonly document: SbomDocument }, sizeBytes: number) {
  const d = ingested.document;
  return {
    releaseId,
    sha256: ingested.sha256,
    format: d.format,
    specVersion: d.specVersion as '1.6' | '1.7' | '2.2' | '2.3' | '3.0.1',
    encoding: d.encoding,
    sizeBytes,
    components: indexEntries(d),
  };
}
