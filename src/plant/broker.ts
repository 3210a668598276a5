/**
 * One AMQP 1.0 connection to the plant broker (rhea), kept open: when it drops or cannot be made, it is made
 * again after an exponential backoff (0.5 s doubling to 30 s), for as long as the ledger runs. Its users (the
 * publisher, the interlock) open their links on each new connection and drop what they had on the old one.
 *
 * rhea with RabbitMQ 3.x (its AMQP 1.0 plugin): the virtual host goes in the open frame's hostname as
 * `vhost:<name>`; every link names its address (the plugin has no anonymous relay, so no null target); bodies
 * are Data sections (the plugin would otherwise hand AMQP 0-9-1 consumers an AMQP-encoded value).
 */
import { readFileSync } from 'node:fs';
import rhea, { type Connection, type ConnectionOptions, type Container, type EventContext } from 'rhea';
import { describeBroker, type BrokerSettings } from './config.ts';

export interface BrokerStatus {
  readonly connected: boolean;
  /** Connections lost or refused since start. */
  readonly connectionFailures: number;
  readonly lastError: string | null;
}

export interface BrokerLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/** rhea's connection options for these settings (reads the CA file: an unreadable one is one line naming it). */
export function connectionOptions(b: BrokerSettings, containerId: string): ConnectionOptions {
  let ca: Buffer | undefined;
  if (b.caFile) {
    try {
      ca = readFileSync(b.caFile);
    } catch (error) {
      const e = new Error(`FLASHTRAIL_CFX_CA_FILE ${b.caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
      e.name = 'ConfigError';
      throw e;
    }
  }
  return {
    host: b.host,
    port: b.port,
    container_id: containerId,
    reconnect: false,
    // Heartbeats both ways: a broker that vanishes without closing the socket is noticed within a minute.
    idle_time_out: 30_000,
    ...(b.vhost ? { hostname: `vhost:${b.vhost}` } : {}),
    ...(b.username !== null && b.password !== null ? { username: b.username, password: b.password } : {}),
    ...(b.scheme === 'amqps'
      ? { transport: 'tls' as const, rejectUnauthorized: true, ...(ca ? { ca } : {}), servername: b.tlsServerName ?? b.host }
      : { transport: 'tcp' as const }),
  } as ConnectionOptions;
}

function errorText(context: EventContext): string {
  const e = (context.error ?? context.connection?.error) as { message?: string; description?: string; condition?: string } | undefined;
  if (!e) return 'the connection closed';
  return [e.condition, e.description ?? e.message].filter(Boolean).join(': ') || 'the connection closed';
}

export class BrokerConnection {
  private readonly container: Container;
  private connection: Connection | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private backoffMs: number;
  private stopped = true;
  private failures = 0;
  private lastError: string | null = null;
  private openListeners: ((connection: Connection) => void)[] = [];
  private downListeners: ((reason: string) => void)[] = [];

  constructor(
    private readonly settings: BrokerSettings,
    private readonly options: { readonly containerId: string; readonly logger?: BrokerLogger; readonly minBackoffMs?: number; readonly maxBackoffMs?: number },
  ) {
    this.container = rhea.create_container({ id: options.containerId });
    // rhea re-emits unhandled errors on the container; an EventEmitter 'error' without a listener would throw.
    this.container.on('error', (error: unknown) => this.options.logger?.warn({ err: String(error) }, 'AMQP error'));
    this.backoffMs = options.minBackoffMs ?? 500;
  }

  /** Called with each new open connection: open links on it. */
  onOpen(listener: (connection: Connection) => void): void {
    this.openListeners.push(listener);
    if (this.connection?.is_open()) listener(this.connection);
  }

  /** Called once per connection lost (or not made): what was open on it is gone. */
  onDown(listener: (reason: string) => void): void {
    this.downListeners.push(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** The connection, when it is open. */
  current(): Connection | null {
    return this.connection?.is_open() ? this.connection : null;
  }

  status(): BrokerStatus {
    return { connected: this.connection?.is_open() ?? false, connectionFailures: this.failures, lastError: this.lastError };
  }

  private connect(): void {
    this.timer = null;
    if (this.stopped) return;
    const connection = this.container.connect(connectionOptions(this.settings, this.options.containerId));
    this.connection = connection;
    let down = false;
    const lost = (context: EventContext) => {
      if (down || this.connection !== connection) return;
      down = true;
      this.connection = null;
      const reason = errorText(context);
      this.failures++;
      this.lastError = reason;
      for (const l of this.downListeners) l(reason);
      if (this.stopped) return;
      this.options.logger?.warn({ broker: describeBroker(this.settings), reason, retryInMs: this.backoffMs }, 'CFX broker unavailable');
      this.timer = setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
      try {
        connection.close();
      } catch {
        // already closed
      }
    };
    connection.on('connection_open', () => {
      this.backoffMs = this.options.minBackoffMs ?? 500;
      this.options.logger?.info({ broker: describeBroker(this.settings) }, 'CFX broker connected');
      for (const l of this.openListeners) l(connection);
    });
    connection.on('connection_error', lost);
    connection.on('connection_close', lost);
    connection.on('disconnected', lost);
    connection.on('protocol_error', lost);
    connection.on('error', (error: unknown) => lost({ error } as EventContext));
    // Session and link errors that their owners do not handle end up here: the owners reopen on the next connection.
    connection.on('session_error', () => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const connection = this.connection;
    this.connection = null;
    if (!connection || !connection.is_open()) {
      connection?.close();
      return;
    }
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 2000);
      connection.once('connection_close', () => (clearTimeout(done), resolve()));
      connection.once('disconnected', () => (clearTimeout(done), resolve()));
      connection.close();
    });
  }
}
