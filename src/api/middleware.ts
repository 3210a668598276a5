/** Middleware factories: authentication, role checks, bounded bodies, request logging. */
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { LedgerError, type LedgerErrorCode } from '../write/errors.ts';
import type { Logger } from 'pino';
import type { Principal, Role } from '../write/pipeline.ts';
import type { TokenSource } from './tokens.ts';
import { problem } from './problem.ts';
import { readBoundedBody } from '../http/body.ts';
import { requestHeader } from '../http/headers.ts';

/** problemCode: set by `problem()`, read by the metrics middleware (refusals by code). */
/** body: the request's bytes, read once by `boundedBody` (read them with `bodyText`). */
export type AppEnv = { Variables: { requestId: string; principal: Principal; problemCode: LedgerErrorCode | undefined; body: Uint8Array | undefined } };

export function bearerAuth(tokens: TokenSource): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = requestHeader(c, 'authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,256})$/.exec(header);
    const principal = match ? tokens.lookup(match[1] as string) : null;
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer realm="flashtrail"');
      return problem(c, 'UNAUTHORIZED', match ? 'the bearer token is not known' : 'send Authorization: Bearer <token>');
    }
    c.set('principal', principal);
    await next();
  };
}

/** Reads the request body once (src/http/body.ts), refusing more than `maxBytes` with `tooLarge`'s answer. */
export function boundedBody(maxBytes: number, tooLarge: (c: Context<AppEnv>) => Response | Promise<Response>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const bytes = await readBoundedBody(c, maxBytes);
    if (bytes === null) return tooLarge(c);
    c.set('body', bytes);
    await next();
  };
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body `boundedBody` read, as text; malformed UTF-8 throws (callers answer BODY_INVALID). */
export function bodyText(c: Context<AppEnv>): string {
  const bytes = c.get('body');
  if (bytes === undefined) throw new Error('bodyText: the route has no boundedBody middleware before it');
  return STRICT_UTF8.decode(bytes);
}

const ROLES = Symbol('roles');
const NO_QUERY = z.strictObject({});

/** Refuses a principal of any other role. The roles travel with the middleware: the OpenAPI document reads them. */
export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  const guard: MiddlewareHandler<AppEnv> = async (c, next) => {
    const principal = c.get('principal');
    if (!roles.includes(principal.role)) {
      return problem(c, 'FORBIDDEN', `this endpoint needs one of the roles: ${roles.join(', ')}`);
    }
    await next();
  };
  return Object.assign(guard, { [ROLES]: roles as readonly Role[] });
}

/** The roles a `requireRole` middleware lets through (also when Hono wrapped it on mounting a sub-app). */
export function rolesOf(handler: unknown): readonly Role[] | undefined {
  const h = handler as { [ROLES]?: readonly Role[]; __COMPOSED_HANDLER?: unknown } | undefined;
  return h?.[ROLES] ?? (h?.__COMPOSED_HANDLER ? rolesOf(h.__COMPOSED_HANDLER) : undefined);
}

/**
 * The query of a request, validated by its route's strict schema: an unknown parameter, one given twice or
 * a value the schema refuses is a QUERY_INVALID problem naming it, never silently ignored.
 */
export function validQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const all = c.req.queries();
  const repeated = Object.entries(all).find(([, values]) => values.length > 1);
  if (repeated) throw new LedgerError('QUERY_INVALID', `query parameter ${repeated[0]} is given ${repeated[1].length} times; give it once`);
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v[0]])));
  if (!parsed.success) {
    throw new LedgerError('QUERY_INVALID', parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown query parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`)).join('; '));
  }
  return parsed.data;
}

/**
 * hono/request-id's behaviour (a caller's X-Request-Id of word characters, '-' and '=', at most 255 long, is kept;
 * otherwise a random UUID), with the header read as requestHeader reads it: hono's reads it through a fetch
 * Headers object built for the purpose.
 */
export function requestIds(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let id = requestHeader(c, 'x-request-id');
    if (!id || id.length > 255 || /[^\w\-=]/.test(id)) id = crypto.randomUUID();
    c.set('requestId', id);
    c.header('X-Request-Id', id);
    await next();
  };
}

/** One log line per request. Never the Authorization header, never a body: keys and tokens stay out of logs. */
export function requestLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const principal = c.get('principal') as Principal | undefined;
    logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        principal: principal?.name,
      },
      'request',
    );
  };
}

/**
 * Every request's query checked against its operation in the contract: the operation's own schema, or none
 * at all (an operation without a query takes no parameter). Requests no operation matches fall through to 404.
 */
export function queryContract(operations: readonly { method: string; path: string; query?: z.ZodType }[]): MiddlewareHandler<AppEnv> {
  const matchers = operations.map((op) => ({
    method: op.method.toUpperCase(),
    pattern: new RegExp(`^${op.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`),
    query: op.query ?? NO_QUERY,
  }));
  return async (c, next) => {
    if (c.req.url.includes('?')) {
      const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
      const op = matchers.find((m) => m.method === method && m.pattern.test(c.req.path));
      if (op) validQuery(c, op.query);
    }
    await next();
  };
}
