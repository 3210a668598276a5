import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { serve, type ServerType } from '@hono/node-server';
import { requestHeader } from '../src/http/headers.ts';

/** Every name asked for, as requestHeader (raw Node headers) and as c.req.header (fetch Headers) answer it. */
let server: ServerType;
let port: number;
const NAMES = ['authorization', 'Content-Type', 'x-request-id', 'x-repeated', 'x-spaced', 'x-empty', 'x-absent', 'content-length', 'transfer-encoding'];

beforeAll(async () => {
  const app = new Hono();
  app.all('*', (c) => c.json(Object.fromEntries(NAMES.map((n) => [n, { raw: requestHeader(c, n) ?? null, fetch: c.req.header(n) ?? null }]))));
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends a request as written (headers repeated, cased and spaced as given) and returns the JSON answer. */
function rawRequest(head: string, body = ''): Promise<Record<string, { raw: string | null; fetch: string | null }>> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('utf8')));
    socket.on('end', () => {
      try {
        resolve(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)));
      } catch (error) {
        reject(error as Error);
      }
    });
    socket.on('error', reject);
    socket.end(`${head}Connection: close\r\n\r\n${body}`);
  });
}

describe('requestHeader', () => {
  it('answers every header as fetch Headers.get does: any case, repeated ones joined, whitespace trimmed, absent ones undefined', async () => {
    const answer = await rawRequest(
      'POST /events HTTP/1.1\r\nHost: x\r\nAUTHORIZATION: Bearer abc\r\ncontent-type:application/json \r\nX-Repeated: one\r\nx-repeated: two\r\nX-Spaced: \t padded \t\r\nX-Empty:\r\nContent-Length: 2\r\n',
      '{}',
    );
    for (const name of NAMES) expect(answer[name]?.raw, name).toBe(answer[name]?.fetch);
    expect(answer['x-repeated']?.raw).toBe('one, two');
    expect(answer['authorization']?.raw).toBe('Bearer abc');
    expect(answer['x-absent']?.raw).toBe(null);
  });

  it('two Authorization headers are one joined value, as fetch reads them (the bearer pattern then refuses it)', async () => {
    const answer = await rawRequest('GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aaaaaaaaaaaaaaaa\r\nAuthorization: Bearer bbbbbbbbbbbbbbbb\r\n');
    expect(answer['authorization']?.raw).toBe(answer['authorization']?.fetch);
    expect(answer['authorization']?.raw).toBe('Bearer aaaaaaaaaaaaaaaa, Bearer bbbbbbbbbbbbbbbb');
  });

  it('a chunked body: transfer-encoding as fetch reads it', async () => {
    const answer = await rawRequest('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n', '');
    expect(answer['transfer-encoding']?.raw).toBe(answer['transfer-encoding']?.fetch);
  });
});
