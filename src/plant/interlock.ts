/**
 * The interlock on the plant broker: ValidateUnitsRequest messages are taken from a configured queue and each
 * answered to its reply-to address, per the CFX SDK's request/response pattern (Source = our handle, Target =
 * the requester, RequestID echoed, also as the AMQP correlation-id). A request is accepted (removed from the
 * queue) only once its answer is on the broker; a request without reply-to, too large, or whose answer cannot
 * be delivered is rejected (the broker dead-letters it where the queue says so).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Receiver, type Sender } from 'rhea';
import { invalidRequestResponse, notSupportedResponse, readRequest, validateUnitsResponse } from '../cfx/interlock.ts';
import { amqpPropertiesOf, envelopeJson } from '../cfx/transport.ts';
import type { CfxEnvelope } from '../cfx/schema.ts';
import type { BrokerConnection, BrokerLogger } from './broker.ts';
import type { ReadinessSource } from './readiness.ts';

export interface InterlockStats {
  /** Requests answered (including those answered Failed or NotSupported). */
  readonly answered: number;
  /** Requests rejected: no reply-to, too large, unreadable, or an answer the broker would not take. */
  readonly rejected: number;
  readonly lastError: string | null;
}

export interface InterlockOptions {
  readonly broker: BrokerConnection;
  /** Source address of the requests, e.g. `/amq/queue/flashtrail.validate`. */
  readonly address: string;
  readonly handle: string;
  readonly readiness: ReadinessSource;
  readonly logger?: BrokerLogger;
  readonly clock?: () => Date;
  /** Largest request accepted, compressed and uncompressed. */
  readonly maxBytes?: number;
}

const MAX_REPLY_LINKS = 16;

export class CfxInterlock {
  private receiver: Receiver | null = null;
  private replies = new Map<string, Sender>();
  private answered = 0;
  private rejected = 0;
  private lastError: string | null = null;
  private stopped = true;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: InterlockOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.options.broker.onOpen((connection) => this.attach(connection));
    this.options.broker.onDown(() => {
      this.receiver = null;
      this.replies.clear();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    try {
      if (this.receiver?.is_open()) this.receiver.close();
    } catch {
      // the connection is gone
    }
    this.receiver = null;
    await this.queue;
  }

  stats(): InterlockStats {
    return { answered: this.answered, rejected: this.rejected, lastError: this.lastError };
  }

  private attach(connection: Connection): void {
    if (this.stopped) return;
    this.replies.clear();
    // RabbitMQ declares a /queue/… address: the link's durability must match the (durable) queue's.
    const durable = this.options.address.startsWith('/queue/') ? { durable: 2 } : {};
    const receiver = connection.open_receiver({ source: { address: this.options.address, ...durable }, autoaccept: false, credit_window: 10 });
    this.receiver = receiver;
    receiver.on('message', (context: EventContext) => {
      const message = context.message as Message;
      const delivery = context.delivery as Delivery;
      this.queue = this.queue.then(() => this.handle(connection, message, delivery)).catch((error: unknown) => {
        this.lastError = `answering a request failed: ${(error as Error).message}`;
        this.options.logger?.warn({ err: String(error) }, 'CFX interlock');
      });
    });
    receiver.on('receiver_error', (context: EventContext) => {
      const e = context.receiver?.error as { condition?: string; description?: string } | undefined;
      this.lastError = `the broker closed the request link on ${this.options.address}: ${[e?.condition, e?.description].filter(Boolean).join(': ') || 'no reason given'}`;
      this.options.logger?.warn({ reason: this.lastError }, 'CFX interlock');
    });
  }

  private reject(delivery: Delivery, reason: string): void {
    this.rejected++;
    this.lastError = reason;
    this.options.logger?.warn({ reason }, 'CFX interlock refused a request');
    delivery.reject({ condition: 'amqp:precondition-failed', description: reason.slice(0, 500) });
  }

  private async handle(connection: Connection, message: Message, delivery: Delivery): Promise<void> {
    const maxBytes = this.options.maxBytes ?? 256 * 1024;
    const body = message.body as { typecode?: number; content?: unknown } | string | undefined;
    let bytes: Buffer | null = null;
    if (body && typeof body === 'object' && body.typecode === 0x75 && Buffer.isBuffer(body.content)) bytes = body.content;
    else if (Buffer.isBuffer(body)) bytes = body;
    else if (typeof body === 'string') bytes = Buffer.from(body, 'utf8');
    if (!bytes) return this.reject(delivery, 'the request has no Data section');
    if (bytes.length > maxBytes) return this.reject(delivery, `the request is larger than ${maxBytes} bytes`);
    let text: string;
    try {
      text = (String(message.content_encoding ?? '').toLowerCase() === 'gzip' ? gunzipSync(bytes, { maxOutputLength: maxBytes }) : bytes).toString('utf8');
    } catch {
      return this.reject(delivery, `the request does not decompress (gzip) within ${maxBytes} bytes`);
    }
    const replyTo = typeof message.reply_to === 'string' && message.reply_to !== '' ? message.reply_to : null;
    if (!replyTo) return this.reject(delivery, 'the request has no reply-to address');
    const now = (this.options.clock?.() ?? new Date()).toISOString();
    const options = { handle: this.options.handle, now };
    const request = readRequest(text);
    let answer: CfxEnvelope;
    if (request.kind === 'validate') {
      const verdicts = [];
      for (const unit of request.units) verdicts.push(await this.options.readiness(unit.id));
      answer = validateUnitsResponse(request, verdicts, options);
    } else if (request.kind === 'unsupported') {
      answer = notSupportedResponse(request.envelope, options);
    } else {
      answer = invalidRequestResponse(request.envelope, request.problem, options);
    }
    const properties = amqpPropertiesOf(answer);
    const correlation = properties.correlation_id ?? (message.message_id !== undefined ? String(message.message_id) : undefined);
    try {
      await this.send(connection, replyTo, {
        ...properties,
        ...(correlation !== undefined ? { correlation_id: correlation } : {}),
        body: rhea.message.data_section(gzipSync(Buffer.from(envelopeJson(answer), 'utf8'))),
      });
    } catch (error) {
      return this.reject(delivery, `the answer to ${replyTo} was not taken: ${(error as Error).message}`);
    }
    this.answered++;
    delivery.accept();
  }

  /** Sends on a link to `address` (opened once and kept, a few at most) and waits for the broker's verdict. */
  private send(connection: Connection, address: string, message: Message): Promise<void> {
    let sender = this.replies.get(address);
    if (!sender || !sender.is_open()) {
      if (this.replies.size >= MAX_REPLY_LINKS) {
        const [oldest, link] = this.replies.entries().next().value as [string, Sender];
        this.replies.delete(oldest);
        link.close();
      }
      sender = connection.open_sender({ target: { address } });
      this.replies.set(address, sender);
    }
    const link = sender;
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => done(new Error('no answer from the broker within 10 s')), 10_000);
      const onError = (context: EventContext) => done(new Error(String((context.sender?.error as { description?: string } | undefined)?.description ?? 'the link was closed')));
      let delivery: Delivery | null = null;
      const onOutcome = (outcome: string) => (context: EventContext) => {
        if (context.delivery !== delivery) return;
        done(outcome === 'accepted' ? null : new Error(`the broker ${outcome} it`));
      };
      const handlers = { accepted: onOutcome('accepted'), rejected: onOutcome('rejected'), released: onOutcome('released'), modified: onOutcome('modified') };
      const done = (error: Error | null) => {
        clearTimeout(timeout);
        link.removeListener('sender_error', onError);
        for (const [event, h] of Object.entries(handlers)) link.removeListener(event, h);
        link.removeListener('sendable', trySend);
        if (error) reject(error);
        else resolve();
      };
      link.on('sender_error', onError);
      for (const [event, h] of Object.entries(handlers)) link.on(event, h);
      const trySend = () => {
        if (delivery || !link.sendable()) return;
        delivery = link.send(message);
      };
      link.on('sendable', trySend);
      trySend();
    });
  }
}
