/**
 * Package URLs through the purl project's own JavaScript implementation (packageurl-js), so that names are
 * normalised by each type's rules (`pkg:github/Mbed-TLS/mbedtls` → lowercase namespace and name) exactly as
 * the specification says, not by a hand-written approximation.
 */
import { PackageURL } from 'packageurl-js';
import { CraError } from './errors.ts';

export interface Purl {
  readonly type: string;
  readonly namespace?: string;
  readonly name: string;
  readonly version?: string;
  readonly qualifiers: Readonly<Record<string, string>>;
  readonly subpath?: string;
}

export function parsePurl(text: string): Purl {
  let p: PackageURL;
  try {
    p = PackageURL.fromString(text);
  } catch (e) {
    throw new CraError('PURL_INVALID', `"${text.slice(0, 200)}" is not a package URL: ${(e as Error).message}`);
  }
  return {
    type: p.type,
    ...(p.namespace ? { namespace: p.namespace } : {}),
    name: p.name,
    ...(p.version ? { version: p.version } : {}),
    qualifiers: { ...(p.qualifiers ?? {}) },
    ...(p.subpath ? { subpath: p.subpath } : {}),
  };
}

/** The canonical string of a purl, or the text unchanged when it does not parse (the SBOM's own words). */
export function canonicalPurl(text: string): string {
  try {
    return PackageURL.fromString(text).toString();
  } catch {
    return text;
  }
}

/** The package identity without version, qualifiers or subpath: `pkg:github/mbed-tls/mbedtls`. */
export function purlIdentity(p: Purl): string {
  return new PackageURL(p.type, p.namespace, p.name, undefined, undefined, undefined).toString();
}
