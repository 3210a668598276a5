/**
 * `flashtrail witness serve`: a C2SP tlog-witness (https://c2sp.org/tlog-witness) over HTTP.
 *
 *   POST /add-checkpoint                       cosign a checkpoint consistent with the last one (src/tlog/witness.ts)
 *   POST /add-ledger-key                       learn the log's next key from its rotation records (a flashtrail
 *                                              extension, docs/format.md §5.1.1; src/witness/ledger-key.ts)
 *   GET  /<hex SHA-256(origin)>/checkpoint     the latest checkpoint cosigned for a log (the spec's monitoring
 *                                              interface at HEAD), with the log's and this witness's signatures
 *
 * There is no authentication beyond the log's signature on the checkpoint, as the spec has it: anyone may
 * submit, and only checkpoints signed by a log this witness was told to witness, and consistent with what it
 * cosigned before, are cosigned. Every refusal is logged (a 422 from a known log is a fork to investigate).
 */
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { nativeCrypto } from '../native/crypto.ts';
import { lockDataDirectory } from '../files/dir-lock.ts';
import { readBoundedBody } from '../http/body.ts';
import { toHex, utf8 } from '../crypto/encoding.ts';
import { sha256 } from '../crypto/sha256.ts';
import { cosignCheckpoint } from '../tlog/cosignature.ts';
import { decideAddCheckpoint, MAX_ADD_CHECKPOINT_BYTES, TLOG_SIZE_CONTENT_TYPE } from '../tlog/witness.ts';
import { WitnessDirectory } from './directory.ts';
import { ADD_LEDGER_KEY_PATH, decideAddLedgerKey, MAX_ADD_LEDGER_KEY_BYTES } from './ledger-key.ts';

const TEXT = 'text/plain; charset=utf-8';

/**
 * A POST body within `maxBytes`, as strict UTF-8 (a BOM kept, so that it fails the note's parse): the answer to
 * send instead when it is larger (413) or not UTF-8 (400), in plain text as every answer of the witness.
 */
async function boundedUtf8Body(c: Context, maxBytes: number): Promise<{ text: string } | { refusal: Response }> {
  const bytes = await readBoundedBody(c, maxBytes);
  if (bytes === null) return { refusal: c.text(`the request body is larger than ${maxBytes} bytes\n`, 413, { 'Content-Type': TEXT, Connection: 'close' }) };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { refusal: c.text('the request body is not UTF-8\n', 400, { 'Content-Type': TEXT }) };
  }
}

export interface WitnessServerOptions {
  readonly logger: Logger;
  readonly clock?: () => Date;
}

export function createWitnessApp(witness: WitnessDirectory, options: WitnessServerOptions): Hono {
  const { logger } = options;
  const clock = options.clock ?? (() => new Date());
  const app = new Hono();
  const { name, key } = witness.identity;
  /** A refusal, logged: a 422 (inconsistent with what was cosigned) is a fork to investigate, the rest are not. */
  const refuse = (c: Context, status: 400 | 403 | 404 | 422, message: string) => {
    (status === 422 ? logger.warn.bind(logger) : logger.info.bind(logger))({ status }, message);
    return c.text(`${message}\n`, status, { 'Content-Type': TEXT });
  };

  app.post(
    '/add-checkpoint',
    async (c) => {
      const read = await boundedUtf8Body(c, MAX_ADD_CHECKPOINT_BYTES);
      if ('refusal' in read) return read.refusal;
      const body = read.text;
      // From here to the durable record nothing yields to the event loop: the size check and the update are
      // one step, so two concurrent submissions cannot both extend the same old size.
      const decision = decideAddCheckpoint(body, witness.logKeys, (origin) => witness.latest(origin), nativeCrypto, (k, size) => witness.keyInForce(k, size));
      if (decision.status === 409) {
        logger.info({ status: 409, latestSize: decision.latestSize }, decision.message);
        return c.text(`${decision.latestSize}\n`, 409, { 'Content-Type': TLOG_SIZE_CONTENT_TYPE });
      }
      if (decision.status !== 200) return refuse(c, decision.status, decision.message);
      const now = clock();
      const line = cosignCheckpoint(decision.body, name, key.secretKey, key.publicKey, Math.floor(now.getTime() / 1000));
      const { origin, size } = decision.checkpoint;
      // Persisted before the answer: a cosignature is never given for a state the witness could forget.
      witness.record(origin, decision.oldSize, { origin, size, root: decision.next.root, checkpoint: decision.note + line, cosignedAt: now.toISOString() });
      logger.info({ status: 200, origin, size, oldSize: decision.oldSize }, 'checkpoint cosigned');
      return c.text(line, 200, { 'Content-Type': TEXT });
    },
  );

  app.post(
    `/${ADD_LEDGER_KEY_PATH}`,
    async (c) => {
      const read = await boundedUtf8Body(c, MAX_ADD_LEDGER_KEY_BYTES);
      if ('refusal' in read) return read.refusal;
      const body = read.text;
      const decision = decideAddLedgerKey(body, witness.logKeys, (origin) => witness.latest(origin), nativeCrypto);
      if (decision.status !== 200) return refuse(c, decision.status, decision.message);
      // Persisted before the answer, like a cosignature: the log's next checkpoints are signed by these keys.
      witness.learnLedgerKeys(decision.learned);
      const keys = decision.learned.map((l) => ({ keyId: l.key.id, fromLeaf: l.fromLeaf, replaces: l.replaces.id }));
      logger.info({ status: 200, origin: decision.origin, size: decision.size, learned: keys }, keys.length > 0 ? 'ledger key rotation followed' : 'ledger key rotation already known');
      return c.text(decision.learned.map((l) => `${l.verifierKey}\n`).join(''), 200, { 'Content-Type': TEXT });
    },
  );

  app.get('/:originHash/checkpoint', (c) => {
    const wanted = c.req.param('originHash');
    for (const origin of witness.logKeys.keys()) {
      if (toHex(sha256(utf8(origin))) !== wanted) continue;
      const latest = witness.latest(origin);
      if (!latest) break;
      return c.text(latest.checkpoint, 200, { 'Content-Type': TEXT, 'Cache-Control': 'no-store' });
    }
    return c.text('no checkpoint cosigned for that log\n', 404, { 'Content-Type': TEXT });
  });

  app.notFound((c) => c.text('not found: this witness serves POST /add-checkpoint, POST /add-ledger-key and GET /<hex SHA-256(origin)>/checkpoint\n', 404, { 'Content-Type': TEXT }));
  app.onError((error, c) => {
    logger.error({ err: { message: error.message } }, 'witness request failed');
    return c.text('internal error\n', 500, { 'Content-Type': TEXT });
  });
  return app;
}

export interface RunningWitness {
  readonly url: string;
  readonly verifierKey: string;
  close(): Promise<void>;
}

export async function startWitnessServer(dir: string, listen: { host: string; port: number }, options: WitnessServerOptions): Promise<RunningWitness> {
  const lock = lockDataDirectory(dir, 'flashtrail witness serve');
  try {
    const witness = WitnessDirectory.open(dir);
    const app = createWitnessApp(witness, options);
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: listen.host, port: listen.port }, () => resolve(s));
      s.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`;
    options.logger.info({ url, verifierKey: witness.identity.verifierKey, logs: [...witness.logKeys.keys()] }, 'flashtrail witness listening');
    return {
      url,
      verifierKey: witness.identity.verifierKey,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            lock.release();
            resolve();
          });
        }),
    };
  } catch (error) {
    lock.release();
    throw error;
  }
}
