/**
 * Failures of the CRA library, each with a stable code naming what failed and a `where` naming the field,
 * line or document it failed at. Expected failures (a bad SBOM, a malformed range) are these errors, never
 * a stack trace; the codes are API.
 */
export const CRA_ERROR_CODES = [
  /** The bytes are not a document of any supported format (not JSON, not SPDX tag-value, unknown spec). */
  'SBOM_FORMAT_UNKNOWN',
  /** The document claims a supported format but a version we do not accept (e.g. CycloneDX 1.4). */
  'SBOM_VERSION_UNSUPPORTED',
  /** The document is not valid against its official JSON schema. */
  'SBOM_SCHEMA_INVALID',
  /** An SPDX 2 tag-value document is malformed (the line is named). */
  'SBOM_TAG_VALUE_INVALID',
  /** A document exceeds a size or count bound. */
  'SBOM_TOO_LARGE',
  /** A vers string is not a canonical, valid version range specifier. */
  'VERS_INVALID',
  /** A vers type this library cannot compare versions of. */
  'VERS_TYPE_UNSUPPORTED',
  /** A version that is not valid under its scheme (e.g. not SemVer 2.0.0 for `vers:semver`). */
  'VERSION_INVALID',
  /** A purl that does not parse. */
  'PURL_INVALID',
  /** A CPE 2.3 formatted string that does not parse. */
  'CPE_INVALID',
  /** A component selector with nothing to select by, or a bad range. */
  'SELECTOR_INVALID',
  /** A vulnerability assessment that is inconsistent (e.g. `not_affected` without a justification). */
  'ASSESSMENT_INVALID',
  /** A rendered VEX document failed its official schema: a bug on our side, never to be published. */
  'VEX_SCHEMA_INVALID',
  /** A rendered (enriched) SBOM failed its official schema: a bug on our side, never to be published. */
  'RENDER_SCHEMA_INVALID',
  /** Art. 14 clock input that is inconsistent (a report before awareness, an unparsable time). */
  'CLOCK_INPUT_INVALID',
] as const;

export type CraErrorCode = (typeof CRA_ERROR_CODES)[number];

export class CraError extends Error {
  override readonly name = 'CraError';
  constructor(
    readonly code: CraErrorCode,
    message: string,
    /** Where it failed: a JSON pointer, `line 12`, a field name. */
    readonly where?: string,
  ) {
    super(where === undefined ? message : `${message} (at ${where})`);
  }
}
