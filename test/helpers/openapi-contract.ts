/**
 * Checks real HTTP answers against the OpenAPI document the ledger serves: the operation (method and path
 * template), the status, the media type and the body's schema must all be in the document. Every answer
 * checked is recorded, so that a test can say which documented operations were never exercised.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

interface Media {
  schema?: unknown;
}
interface Operation {
  responses: Record<string, { content?: Record<string, Media> }>;
}
type Paths = Record<string, Record<string, Operation>>;

export interface ContractChecker {
  /** Throws, naming what disagrees, when the answer is not one the document describes. */
  check(method: string, url: string, status: number, contentType: string, body: string): void;
  /** `GET /v1/units/{serial} 200` for every answer checked so far. */
  readonly seen: Set<string>;
  /** `GET /v1/units/{serial} 200` for every success response the document has. */
  readonly documentedSuccesses: string[];
}

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export function contractChecker(document: Record<string, unknown>): ContractChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ ...document, $id: 'openapi' });
  const paths = document['paths'] as Paths;
  const templates = Object.keys(paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const validators = new Map<string, ValidateFunction>();
  const validator = (ref: string) => {
    let v = validators.get(ref);
    if (!v) {
      v = ajv.compile({ $ref: ref });
      validators.set(ref, v);
    }
    return v;
  };
  const seen = new Set<string>();
  const validate = (ref: string, value: unknown, what: string) => {
    const v = validator(ref);
    if (!v(value)) throw new Error(`${what} does not match the OpenAPI document: ${ajv.errorsText(v.errors, { separator: '; ' })}`);
  };
  return {
    seen,
    documentedSuccesses: Object.entries(paths).flatMap(([template, ops]) =>
      Object.entries(ops).flatMap(([method, op]) => Object.keys(op.responses).filter((s) => s.startsWith('2')).map((s) => `${method.toUpperCase()} ${template} ${s}`)),
    ),
    check(method, url, status, contentType, body) {
      const path = new URL(url, 'http://x').pathname;
      const m = method.toLowerCase();
      const found = templates.find((t) => t.pattern.test(path) && paths[t.template]?.[m]);
      const label = `${method.toUpperCase()} ${path} → ${status}`;
      if (!found) {
        // A path no operation has: the only documented answer is the 404 problem of the catch-all.
        if (status === 404 && contentType.startsWith('application/problem+json')) return;
        throw new Error(`${label}: no operation of the OpenAPI document serves ${method.toUpperCase()} ${path}`);
      }
      const op = paths[found.template]![m]!;
      const response = op.responses[String(status)];
      if (!response) throw new Error(`${label}: the document lists no ${status} for ${method.toUpperCase()} ${found.template} (it lists ${Object.keys(op.responses).join(', ')})`);
      const media = Object.keys(response.content ?? {}).find((type) => contentType.split(';')[0]!.trim() === type);
      if (!media) throw new Error(`${label}: answered ${contentType || 'no content type'}, the document has ${Object.keys(response.content ?? {}).join(', ') || 'no body'}`);
      seen.add(`${method.toUpperCase()} ${found.template} ${status}`);
      const ref = `openapi#/${pointer('paths', found.template, m, 'responses', String(status), 'content', media, 'schema')}`;
      if (media === 'application/json' || media === 'application/problem+json') {
        validate(ref, JSON.parse(body), label);
      } else if (media === 'application/x-ndjson') {
        const item = found.template === '/v1/exports' ? 'ExportRecord' : found.template === '/v1/cra/units' ? 'CraUnitRow' : 'FirmwareUnitRow';
        body
          .split('\n')
          .filter((line) => line !== '')
          .forEach((line, i) => validate(`openapi#/components/schemas/${item}`, JSON.parse(line), `${label}, line ${i + 1}`));
      } else {
        validate(ref, body, label);
      }
    },
  };
}

/** fetch, with every answer checked against the contract. */
export function checkedFetch(checker: ContractChecker): (url: string, init?: RequestInit) => Promise<{ status: number; type: string; text: string; headers: Headers }> {
  return async (url, init = {}) => {
    const response = await fetch(url, init);
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    checker.check(init.method ?? 'GET', url, response.status, type, text);
    return { status: response.status, type, text, headers: response.headers };
  };
}
