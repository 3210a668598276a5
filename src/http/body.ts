/**
 * Reading a request body within a bound, for every HTTP server of flashtrail (the ledger API, the witness).
 * One home, so that both refuse an oversized body the same way: by its Content-Length before anything is read,
 * or counted as it arrives when it is chunked.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { requestHeader } from './headers.ts';

/**
 * The request's bytes, or null when it holds more than `maxBytes` (what is left stays unread: answer with
 * Connection: close). Under @hono/node-server it reads the Node request directly: going through
 * `c.req.raw.body`, as hono's bodyLimit does, makes the adapter build a whole fetch Request and a web stream for
 * every request (about 6 % of the append path's CPU, measured). Elsewhere (app.request in tests, another
 * runtime) it reads the fetch Request's stream, bounded the same way.
 */
export async function readBoundedBody(c: Context, maxBytes: number): Promise<Uint8Array | null> {
  const declared = requestHeader(c, 'content-length');
  if (declared !== undefined && requestHeader(c, 'transfer-encoding') === undefined && Number(declared) > maxBytes) return null;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming ? readNodeBody(incoming, maxBytes) : readFetchBody(c.req.raw, maxBytes);
}

function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const detach = () => incoming.off('data', onData).off('end', onEnd).off('error', onError);
    const done = (result: Uint8Array | null) => {
      detach();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        incoming.pause();
        done(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    const onError = (error: Error) => {
      detach();
      reject(error);
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

async function readFetchBody(request: Request, maxBytes: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}
