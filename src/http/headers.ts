/**
 * Request headers by name, for every HTTP server of flashtrail. Under @hono/node-server, `c.req.header()`
 * makes the adapter build a whole fetch Headers object from the Node request (validating every header of it)
 * the first time any header is read: on the append path, where the server reads four headers, that was about
 * 2 % of the serving thread's CPU (perf, 64 stations). Read here from the Node request's raw headers instead,
 * answered as Headers.get answers: case-insensitive, repeated headers joined by ", ", surrounding whitespace
 * removed. Elsewhere (app.request in tests, another runtime) it is c.req.header.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** HTTP whitespace at either end of a value (Fetch: a header value is normalized by removing it). */
const SURROUNDING_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) return c.req.header(name);
  const raw = incoming.rawHeaders;
  const wanted = name.toLowerCase();
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length !== wanted.length || key.toLowerCase() !== wanted) continue;
    const v = (raw[i + 1] as string).replace(SURROUNDING_WHITESPACE, '');
    value = value === undefined ? v : `${value}, ${v}`;
  }
  return value;
}
