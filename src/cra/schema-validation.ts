/**
 * Validation of SBOM and VEX documents against their official JSON Schemas, vendored unchanged in
 * `json-schemas/` (sources, versions and SHA-256 in its README). Ajv compiles each schema once, lazily,
 * on first use: compiling CycloneDX 1.7 takes a few hundred milliseconds and most processes need one or two.
 *
 * Three dialects are in play: draft-07 (CycloneDX, SPDX 2), 2020-12 (SPDX 3.0.1, CSAF 2.0, OpenVEX 0.2.0),
 * and draft-04 for the FIRST CVSS v2.0/v3.0 schemas CSAF references. Ajv has one class per dialect, so
 * there is one instance per dialect; the CVSS schemas are registered in the 2020-12 instance under the URLs
 * CSAF refers to them by, without meta-validation (their keywords are a subset 2020-12 reads identically).
 *
 * Formats: ajv-formats gives date-time, date, uri, email. The schemas also use `iri`, `iri-reference`
 * (RFC 3987) and `idn-email` (RFC 6531), which ajv-formats does not implement; they are defined below,
 * as checks of the character repertoire and shape those RFCs allow (not full grammars).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import cdxBom16 from './json-schemas/cyclonedx-bom-1.6.schema.json' with { type: 'json' };
import cdxBom17 from './json-schemas/cyclonedx-bom-1.7.schema.json' with { type: 'json' };
import cdxSpdxLicences from './json-schemas/cyclonedx-spdx.schema.json' with { type: 'json' };
import cdxJsf from './json-schemas/cyclonedx-jsf-0.82.schema.json' with { type: 'json' };
import cdxCryptoDefs from './json-schemas/cyclonedx-cryptography-defs.schema.json' with { type: 'json' };
import spdx22 from './json-schemas/spdx-2.2-schema.json' with { type: 'json' };
import spdx23 from './json-schemas/spdx-2.3-schema.json' with { type: 'json' };
import spdx301 from './json-schemas/spdx-3.0.1-schema.json' with { type: 'json' };
import csaf20 from './json-schemas/csaf-2.0-schema.json' with { type: 'json' };
import cvss20 from './json-schemas/csaf-first-cvss-v2.0.json' with { type: 'json' };
import cvss30 from './json-schemas/csaf-first-cvss-v3.0.json' with { type: 'json' };
import cvss31 from './json-schemas/csaf-first-cvss-v3.1.json' with { type: 'json' };
import openvex020 from './json-schemas/openvex-0.2.0-schema.json' with { type: 'json' };

/** The documents we validate, each named by format and version. */
export type SchemaName =
  | 'cyclonedx-1.6'
  | 'cyclonedx-1.7'
  | 'spdx-2.2'
  | 'spdx-2.3'
  | 'spdx-3.0.1'
  | 'csaf-2.0'
  | 'openvex-0.2.0';

export interface SchemaProblem {
  /** JSON pointer into the document (`/components/3/hashes/0/content`), `` for the root. */
  readonly path: string;
  readonly message: string;
}

export interface SchemaVerdict {
  readonly valid: boolean;
  /** At most `MAX_REPORTED_PROBLEMS`, most specific first as Ajv reports them. */
  readonly problems: readonly SchemaProblem[];
}

export const MAX_REPORTED_PROBLEMS = 20;

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** RFC 3987 ucschar/iprivate plus the URI characters: no controls, no space, no `<>"{}|\^\``. */
// eslint-disable-next-line no-control-regex -- excluding control characters is the point
const IRI_CHARS = /^[^\u0000-\u0020<>"{}|\\^`\u007f-\u009f]*$/u;
const IRI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const IDN_EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/u;

function addIriFormats(ajv: Ajv): void {
  ajv.addFormat('iri', { type: 'string', validate: (s: string) => IRI_CHARS.test(s) && IRI_SCHEME.test(s) });
  ajv.addFormat('iri-reference', { type: 'string', validate: (s: string) => IRI_CHARS.test(s) });
  ajv.addFormat('idn-email', { type: 'string', validate: (s: string) => IDN_EMAIL.test(s) });
}

function newInstance<T extends Ajv>(make: () => T): T {
  const ajv = make();
  addFormats(ajv);
  addIriFormats(ajv);
  return ajv;
}

let draft07: Ajv | undefined;
let draft2020: Ajv2020 | undefined;

function draft07Instance(): Ajv {
  if (draft07 === undefined) {
    // strict: false because the official schemas carry annotation keywords Ajv's strict mode does not know
    // (`meta:enum` in CycloneDX, `javaType` in JSF); they change nothing about validity.
    draft07 = newInstance(() => new Ajv({ allErrors: false, strict: false, validateFormats: true }));
    draft07.addSchema(cdxSpdxLicences as object, 'http://cyclonedx.org/schema/spdx.schema.json');
    draft07.addSchema(cdxJsf as object, 'http://cyclonedx.org/schema/jsf-0.82.schema.json');
    draft07.addSchema(cdxCryptoDefs as object, 'http://cyclonedx.org/schema/cryptography-defs.schema.json');
  }
  return draft07;
}

function draft2020Instance(): Ajv2020 {
  if (draft2020 === undefined) {
    draft2020 = newInstance(() => new Ajv2020({ allErrors: false, strict: false, validateFormats: true }));
    // Registered under the exact URLs csaf_json_schema.json uses in its $refs; not meta-validated (draft-04).
    draft2020.addSchema(stripDialect(cvss20), 'https://www.first.org/cvss/cvss-v2.0.json', undefined, false);
    draft2020.addSchema(stripDialect(cvss30), 'https://www.first.org/cvss/cvss-v3.0.json', undefined, false);
    draft2020.addSchema(stripDialect(cvss31), 'https://www.first.org/cvss/cvss-v3.1.json', undefined, false);
  }
  return draft2020;
}

/**
 * The CVSS schemas name themselves with `$schema` draft-04/07 and (draft-04) `id`; inside the 2020-12
 * instance those would make Ajv look for a meta-schema it does not have. Only those two members are
 * dropped, from a copy; every constraint stays.
 */
function stripDialect(schema: object): object {
  const { $schema: _s, id: _i, $id: _d, ...rest } = schema as Record<string, unknown>;
  return rest;
}

const compiled = new Map<SchemaName, ValidateFunction>();

function validatorFor(name: SchemaName): ValidateFunction {
  const cached = compiled.get(name);
  if (cached) return cached;
  let fn: ValidateFunction;
  switch (name) {
    case 'cyclonedx-1.6':
      fn = draft07Instance().compile(cdxBom16 as object);
      break;
    case 'cyclonedx-1.7':
      fn = draft07Instance().compile(cdxBom17 as object);
      break;
    case 'spdx-2.2':
      fn = draft07Instance().compile(spdx22 as object);
      break;
    case 'spdx-2.3':
      fn = draft07Instance().compile(spdx23 as object);
      break;
    case 'spdx-3.0.1':
      fn = draft2020Instance().compile(spdx301 as object);
      break;
    case 'csaf-2.0':
      fn = draft2020Instance().compile(csaf20 as object);
      break;
    case 'openvex-0.2.0':
      fn = draft2020Instance().compile(openvex020 as object);
      break;
  }
  compiled.set(name, fn);
  return fn;
}

function problemOf(error: ErrorObject): SchemaProblem {
  const detail = error.params && Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : '';
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${detail}` };
}

/** Validates `document` (already parsed JSON) against the official schema `name`. */
export function validateDocument(name: SchemaName, document: unknown): SchemaVerdict {
  const validate = validatorFor(name);
  const valid = validate(document) === true;
  const problems = valid ? [] : (validate.errors ?? []).slice(0, MAX_REPORTED_PROBLEMS).map(problemOf);
  return { valid, problems };
}

/** One line naming the first problem, for errors and CLI output. */
export function describeProblems(verdict: SchemaVerdict): string {
  const first = verdict.problems[0];
  if (first === undefined) return 'valid';
  const more = verdict.problems.length > 1 ? ` (and ${verdict.problems.length - 1} more)` : '';
  return `${first.path === '' ? '/' : first.path}: ${first.message}${more}`;
}
