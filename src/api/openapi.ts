/**
 * The OpenAPI 3.1 document, rendered by zod-openapi from the contract's zod schemas (contract.ts) and from
 * the routes as the app mounted them: the roles of an operation are read off the `requireRole` middleware
 * that guards it, and every route must be an operation of the contract (and every operation a route), or
 * the document is not built at all. Problem responses list, per status, the codes of `problem.ts`.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import type { Role } from '../write/pipeline.ts';
import type { LedgerErrorCode } from '../write/errors.ts';
import { API_OPERATIONS, NDJSON_ITEM_SCHEMAS, Problem, type ApiOperation } from './contract.ts';
import { HTTP_STATUS, PROBLEM_CONTENT_TYPE, PROBLEM_TITLES } from './problem.ts';
import { rolesOf } from './middleware.ts';

const ALL_ROLES: readonly Role[] = ['station', 'auditor', 'admin'];

/** `/v1/units/:serial` → `/v1/units/{serial}`. */
export const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

interface MountedRoute {
  readonly method: string;
  readonly path: string;
  readonly roles: readonly Role[] | undefined;
}

function mountedRoutes(app: Hono<never>): MountedRoute[] {
  return app.routes.map((r) => ({ method: r.method, path: r.path, roles: rolesOf(r.handler) }));
}

function pathCovers(pattern: string, path: string): boolean {
  if (pattern === path || pattern === '*' || pattern === '/*') return true;
  return pattern.endsWith('/*') && (path + '/').startsWith(pattern.slice(0, -1));
}

/**
 * The roles that may call an operation: every `requireRole` on its way, in the order Hono runs them, up to
 * its own handler (the last handler registered for exactly its method and path). All roles when none guards it.
 */
export function rolesFor(routes: readonly MountedRoute[], method: string, path: string): readonly Role[] {
  const upper = method.toUpperCase();
  const last = routes.findLastIndex((r) => r.method === upper && r.path === path);
  if (last < 0) throw new Error(`${upper} ${path} is in the API contract but no route serves it`);
  let roles = ALL_ROLES;
  for (const r of routes.slice(0, last + 1)) {
    if ((r.method === upper || r.method === 'ALL') && pathCovers(r.path, path) && r.roles) roles = roles.filter((x) => r.roles?.includes(x));
  }
  return roles;
}

/**
 * The web interface's routes (src/web/routes.ts), left out of the document on purpose: they are the pages of
 * a browser and the private helpers of one page (HTML, a server-sent event stream, and two small JSON calls
 * that change with the page), not a contract a MES, a script or an authority programs against. What the
 * page itself reads is the documented JSON API. Listed one by one, so that any other route without an
 * operation still stops the document from being built.
 */
export const WEB_INTERFACE_ROUTES: readonly string[] = ['GET /', 'GET /verify.html', 'GET /ui', 'GET /ui/session', 'GET /ui/find', 'GET /ui/live'];

/** Routes the app serves that the contract does not describe (the web interface's aside): must be none. */
export function undocumentedRoutes(app: Hono<never>, operations: readonly ApiOperation[] = API_OPERATIONS): string[] {
  const documented = new Set([...operations.map((o) => `${o.method.toUpperCase()} ${o.path}`), ...WEB_INTERFACE_ROUTES]);
  const served = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
  return [...served].filter((k) => !documented.has(k));
}

function problemResponses(codes: readonly LedgerErrorCode[]): ZodOpenApiResponsesObject {
  const byStatus = new Map<number, LedgerErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(HTTP_STATUS[code], [...(byStatus.get(HTTP_STATUS[code]) ?? []), code]);
  const out: ZodOpenApiResponsesObject = {};
  for (const [status, list] of [...byStatus.entries()].sort((a, b) => a[0] - b[0])) {
    out[String(status) as '400'] = {
      description: list.map((c) => `${c}: ${PROBLEM_TITLES[c]}`).join('; '),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: Problem.extend({ status: z.literal(status), code: z.enum(list as [string, ...string[]]) }) } },
    };
  }
  return out;
}

function operationObject(op: ApiOperation, roles: readonly Role[]): ZodOpenApiOperationObject {
  // Every operation refuses a query parameter it does not take (queryContract).
  const errors: LedgerErrorCode[] = [...op.errors, 'QUERY_INVALID', 'INTERNAL'];
  if (op.authenticated) errors.push('UNAUTHORIZED', 'UNAVAILABLE');
  if (op.authenticated && roles.length < ALL_ROLES.length) errors.push('FORBIDDEN');
  if (op.path.startsWith('/v1/')) errors.push('NOT_FOUND');
  const responses: ZodOpenApiResponsesObject = {};
  for (const [status, r] of Object.entries(op.responses)) {
    responses[status as '200'] = {
      description: r.description,
      content: Object.fromEntries(Object.entries(r.content).map(([type, schema]) => [type, { schema }])),
      ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
    };
  }
  Object.assign(responses, problemResponses(errors));
  const who = op.authenticated ? `Roles: ${roles.join(', ')}.` : 'No token needed.';
  return {
    operationId: `${op.method}${op.path.replace(/[/:{}-](\w)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
    summary: op.summary,
    description: [op.description, who].filter(Boolean).join('\n\n'),
    tags: [op.tag],
    ...(op.authenticated ? { security: [{ bearer: [] }] } : { security: [] }),
    'x-roles': op.authenticated ? [...roles] : [],
    ...(op.query || op.params ? { requestParams: { ...(op.query ? { query: op.query } : {}), ...(op.params ? { path: op.params } : {}) } } : {}),
    ...(op.body ? { requestBody: { required: true, content: { [op.body.contentType]: { schema: op.body.schema } } } } : {}),
    responses,
  } as ZodOpenApiOperationObject;
}

export interface OpenApiOptions {
  readonly version: string;
  readonly operations?: readonly ApiOperation[];
}

/** The document for the routes `app` serves. Throws when a route and the contract disagree. */
export function openApiDocument(app: Hono<never>, options: OpenApiOptions): Record<string, unknown> {
  const operations = options.operations ?? API_OPERATIONS;
  const stray = undocumentedRoutes(app, operations);
  if (stray.length > 0) throw new Error(`routes without an operation in src/api/contract.ts: ${stray.join(', ')}`);
  const routes = mountedRoutes(app);
  const paths: ZodOpenApiPathsObject = {};
  for (const op of operations) {
    const key = openApiPath(op.path) as `/${string}`;
    paths[key] = { ...paths[key], [op.method]: operationObject(op, op.authenticated ? rolesFor(routes, op.method, op.path) : []) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'flashtrail ledger API',
      version: options.version,
      description:
        'Signed, append-only traceability of factory firmware flashing. Every refusal is an RFC 9457 problem document (application/problem+json) with a stable `code`; the codes of each status are listed with it.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `flashtrail tokens add`; its role decides what it may call' } },
      schemas: { ...NDJSON_ITEM_SCHEMAS, Problem },
    },
    paths,
  }) as unknown as Record<string, unknown>;
}
