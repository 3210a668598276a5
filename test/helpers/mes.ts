/**
 * A stand-in for the plant's MES on a real broker, with its own AMQP 1.0 client connection: it consumes the CFX
 * queue the exchange feeds (decoding gzip Data sections as the CFX SDK does) and sends ValidateUnitsRequest
 * messages the way the SDK's ExecuteRequest does, reading the answers from its reply queue.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import rhea, { type Connection, type EventContext, type Message, type Receiver, type Sender } from 'rhea';

export interface ReceivedCfx {
  /** The envelope's JSON text as it arrived (after gunzip). */
  readonly json: string;
  readonly envelope: { MessageName: string; UniqueID: string; Source: string; RequestID: string | null; MessageBody: Record<string, unknown> } & Record<string, unknown>;
  readonly properties: {
    readonly message_id: unknown;
    readonly subject: unknown;
    readonly content_type: unknown;
    readonly content_encoding: unknown;
    readonly reply_to: unknown;
    readonly correlation_id: unknown;
    readonly creation_time: unknown;
    readonly durable: unknown;
    readonly application_properties: Record<string, unknown>;
    readonly bodyTypecode: number | undefined;
  };
}

function decode(message: Message): ReceivedCfx {
  const body = message.body as { typecode?: number; content?: Buffer };
  const raw = body.content as Buffer;
  const json = (String(message.content_encoding) === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
  return {
    json,
    envelope: JSON.parse(json) as ReceivedCfx['envelope'],
    properties: {
      message_id: message.message_id,
      subject: message.subject,
      content_type: message.content_type,
      content_encoding: message.content_encoding,
      reply_to: message.reply_to,
      correlation_id: message.correlation_id,
      creation_time: message.creation_time,
      durable: message.durable,
      application_properties: (message.application_properties ?? {}) as Record<string, unknown>,
      bodyTypecode: body.typecode,
    },
  };
}

export interface Mes {
  /** Every CFX message received on the events queue, in arrival order (duplicates included). */
  readonly received: ReceivedCfx[];
  waitFor(predicate: (received: readonly ReceivedCfx[]) => boolean, timeoutMs?: number): Promise<void>;
  validate(units: readonly string[], options?: { primary?: string; replyTo?: string; raw?: Buffer; messageName?: string }): Promise<ReceivedCfx>;
  close(): Promise<void>;
}

export async function connectMes(options: { port: number; vhost: string; user: string; password: string; eventsQueue: string; requestQueue: string; replyQueue: string; handle?: string }): Promise<Mes> {
  const container = rhea.create_container({ id: `mes-${randomUUID()}` });
  container.on('error', () => undefined);
  const connection: Connection = container.connect({
    host: '127.0.0.1',
    port: options.port,
    username: options.user,
    password: options.password,
    hostname: `vhost:${options.vhost}`,
    reconnect: false,
  });
  await new Promise<void>((resolve, reject) => {
    connection.once('connection_open', () => resolve());
    connection.once('disconnected', (c: EventContext) => reject(new Error(`MES cannot connect: ${String(c.error)}`)));
  });
  const received: ReceivedCfx[] = [];
  const waiters = new Set<() => void>();
  const events: Receiver = connection.open_receiver({ source: { address: `/amq/queue/${options.eventsQueue}` }, autoaccept: true, credit_window: 100 });
  events.on('message', (c: EventContext) => {
    received.push(decode(c.message as Message));
    for (const w of waiters) w();
  });
  const answers = new Map<string, (r: ReceivedCfx) => void>();
  const replies: Receiver = connection.open_receiver({ source: { address: `/amq/queue/${options.replyQueue}` }, autoaccept: true });
  replies.on('message', (c: EventContext) => {
    const r = decode(c.message as Message);
    const id = String(r.envelope.RequestID ?? r.properties.correlation_id);
    answers.get(id)?.(r);
  });
  const requests: Sender = connection.open_sender({ target: { address: `/amq/queue/${options.requestQueue}` } });
  await new Promise<void>((resolve) => (requests.sendable() ? resolve() : requests.once('sendable', () => resolve())));
  const handle = options.handle ?? 'Plant1.MES';
  return {
    received,
    waitFor: (predicate, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (predicate(received)) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the MES did not receive what it waited for within ${timeoutMs} ms (${received.length} messages)`));
        }, timeoutMs);
        const check = () => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
    validate: (units, o = {}) => {
      const requestId = `REQUEST-${randomUUID()}`;
      const envelope = {
        MessageName: o.messageName ?? 'CFX.InformationSystem.UnitValidation.ValidateUnitsRequest',
        Version: '2.1',
        TimeStamp: new Date().toISOString().replace('Z', '+00:00'),
        UniqueID: randomUUID(),
        Source: handle,
        Target: 'Plant1.L1.flashtrail',
        RequestID: requestId,
        MessageBody: {
          $type: `${o.messageName ?? 'CFX.InformationSystem.UnitValidation.ValidateUnitsRequest'}, CFX`,
          Validations: ['UnitRouteValidation', 'UnitStatusValidation'],
          PrimaryIdentifier: o.primary ?? (units.length === 1 ? units[0] : 'CARRIER-1'),
          HermesIdentifier: null,
          Units: units.length === 1 && !o.primary ? [] : units.map((u, i) => ({ UnitIdentifier: u, PositionNumber: i + 1, PositionName: null, X: 0.0, Y: 0.0, Z: null, Rotation: 0.0, FlipX: false, FlipY: false, Status: 'Pass' })),
          Lane: null,
        },
      };
      const answer = new Promise<ReceivedCfx>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${requestId} within 20 s`)), 20_000);
        answers.set(requestId, (r) => {
          clearTimeout(timer);
          answers.delete(requestId);
          resolve(r);
        });
      });
      requests.send({
        // As the SDK's ExecuteRequest: a fixed message-id, the answer address in reply-to. (A body that is not
        // an envelope carries no RequestID: the answer can then only be matched by the message-id.)
        message_id: o.raw ? requestId : 'command-request',
        reply_to: o.replyTo ?? `/amq/queue/${options.replyQueue}`,
        correlation_id: requestId,
        content_type: 'application/json; charset="utf-8"',
        content_encoding: 'gzip',
        subject: `${handle}.${envelope.MessageName}`,
        body: rhea.message.data_section(o.raw ?? gzipSync(Buffer.from(JSON.stringify(envelope)))),
      });
      return answer;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        connection.once('connection_close', () => (clearTimeout(t), resolve()));
        connection.close();
      });
    },
  };
}
