/** Middleware factories: authentication, role checks, request logging. */
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { Principal, Role } from '../write/pipeline.ts';
import type { TokenSource } from './tokens.ts';
import { problem } from './problem.ts';

export type AppEnv = { Variables: { requestId: string; principal: Principal } };

export function bearerAuth(tokens: TokenSource): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
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

export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!roles.includes(principal.role)) {
      return problem(c, 'FORBIDDEN', `this endpoint needs one of the roles: ${roles.join(', ')}`);
    }
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
