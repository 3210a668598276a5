/**
 * A real RabbitMQ broker for tests (Debian's rabbitmq-server 3.10 with its AMQP 1.0 plugin), in a throwaway
 * configuration: its own node name, data and log directories, HOME (for the Erlang cookie), an epmd of its own
 * on a free port, the AMQP listener on a free loopback port, the plugin enabled offline through
 * RABBITMQ_ENABLED_PLUGINS_FILE, and the plant's exchange, queues, vhost and user loaded from a definitions
 * file at boot. It can be stopped and started again over the same data (durable queues keep their messages).
 * Where rabbitmq-server is not on PATH, brokerUnavailable() says why and the tests skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { restartablePort } from './ports.ts';

function onPath(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Why no broker can run here, or null when one can. */
export function brokerUnavailable(): string | null {
  if (!onPath('rabbitmq-server')) return 'rabbitmq-server is not installed (apt-get install rabbitmq-server; .ci/run does)';
  if (!onPath('epmd') && !existsSync('/usr/lib/erlang/bin/epmd')) return 'Erlang epmd is not installed (it comes with rabbitmq-server)';
  const plugins = spawnSync('sh', ['-c', 'ls /usr/lib/rabbitmq/lib/*/plugins 2>/dev/null'], { encoding: 'utf8' });
  if (plugins.status === 0 && plugins.stdout.trim() !== '' && !/rabbitmq_amqp1_0/.test(plugins.stdout)) return 'the rabbitmq_amqp1_0 plugin is missing';
  return null;
}

/** The Debian package's /usr/sbin/rabbitmq-server switches to the rabbitmq user; the script it wraps does not. */
function serverScript(): string {
  const wrapped = '/usr/lib/rabbitmq/bin/rabbitmq-server';
  const found = onPath('rabbitmq-server') as string;
  return found.startsWith('/usr/sbin/') && existsSync(wrapped) ? wrapped : found;
}

export const PLANT = {
  vhost: 'plant1',
  user: 'flashtrail',
  password: 'line-engineer-secret',
  mesUser: 'mes',
  mesPassword: 'mes-secret',
  exchange: 'cfx',
  /** The MES's queue for every CFX message, bound to the exchange with `#`. */
  eventsQueue: 'mes.events',
  /** Where the MES sends ValidateUnitsRequest. */
  requestQueue: 'flashtrail.validate',
  /** Where the MES wants its answers. */
  replyQueue: 'mes.replies',
};

/** The plant's broker setup, as a RabbitMQ definitions file (users are hashed by the broker at import). */
export function plantDefinitions(): object {
  const queue = (name: string) => ({ name, vhost: PLANT.vhost, durable: true, auto_delete: false, arguments: {} });
  const all = { configure: '.*', write: '.*', read: '.*' };
  return {
    users: [
      { name: PLANT.user, password: PLANT.password, tags: '' },
      { name: PLANT.mesUser, password: PLANT.mesPassword, tags: '' },
    ],
    vhosts: [{ name: PLANT.vhost }],
    permissions: [
      { user: PLANT.user, vhost: PLANT.vhost, ...all },
      { user: PLANT.mesUser, vhost: PLANT.vhost, ...all },
    ],
    exchanges: [{ name: PLANT.exchange, vhost: PLANT.vhost, type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
    queues: [queue(PLANT.eventsQueue), queue(PLANT.requestQueue), queue(PLANT.replyQueue)],
    bindings: [{ source: PLANT.exchange, vhost: PLANT.vhost, destination: PLANT.eventsQueue, destination_type: 'queue', routing_key: '#', arguments: {} }],
  };
}

/** PEM files of a TLS listener (amqps): the broker's certificate and key, and the CA that signed it. */
export interface BrokerTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface TestBroker {
  readonly host: string;
  readonly port: number;
  /** The amqps listener's port, when the broker was started with TLS files. */
  readonly tlsPort: number | null;
  readonly dir: string;
  /** amqp://user:password@127.0.0.1:port for the ledger's user. */
  readonly url: string;
  /** Stops the broker (SIGTERM, as systemd would); its data stays. */
  stop(): Promise<void>;
  /** Starts it again over the same data and port. */
  start(): Promise<void>;
  /** Stops everything and removes the directory. */
  destroy(): Promise<void>;
  log(): string;
}

export async function startTestBroker(definitions: object = plantDefinitions(), options: { tls?: BrokerTls } = {}): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-rabbitmq-'));
  for (const d of ['mnesia', 'log', 'home']) mkdirSync(join(dir, d));
  // Below the ephemeral range: the broker is stopped and started again on these ports (ports.ts says why).
  const [port, distPort, epmdPort] = [await restartablePort(), await restartablePort(), await restartablePort()];
  const tlsPort = options.tls ? await restartablePort() : null;
  const tls = options.tls
    ? [
        `listeners.ssl.1 = 127.0.0.1:${tlsPort}`,
        `ssl_options.cacertfile = ${options.tls.caFile}`,
        `ssl_options.certfile = ${options.tls.certFile}`,
        `ssl_options.keyfile = ${options.tls.keyFile}`,
        'ssl_options.verify = verify_none',
        'ssl_options.fail_if_no_peer_cert = false',
      ]
    : [];
  const nodeName = `flashtrail${process.pid}x${port}@localhost`;
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_amqp1_0].\n');
  writeFileSync(join(dir, 'definitions.json'), JSON.stringify(definitions));
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [`listeners.tcp.1 = 127.0.0.1:${port}`, ...tls, `load_definitions = ${join(dir, 'definitions.json')}`, 'log.console = false', 'log.file.level = info', ''].join('\n'),
  );
  const env = {
    ...process.env,
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_PLUGINS_EXPAND_DIR: join(dir, 'plugins-expand'),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
  };
  // An epmd of our own, so that nothing outlives the test (Erlang would start a daemon otherwise).
  const epmd = spawn(onPath('epmd') ?? '/usr/lib/erlang/bin/epmd', ['-port', String(epmdPort)], { env, stdio: 'ignore' });
  let server: ChildProcess | null = null;
  let output = '';

  const start = async () => {
    output = '';
    const child = spawn(serverScript(), [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    server = child;
    child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const deadline = Date.now() + 90_000;
    while (!/Starting broker\.\.\. completed/.test(output)) {
      if (child.exitCode !== null) throw new Error(`rabbitmq-server exited (${child.exitCode}) at start:\n${output}\n${logTail()}`);
      if (Date.now() > deadline) throw new Error(`rabbitmq-server did not start within 90 s:\n${output}\n${logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const logTail = () => {
    try {
      return readFileSync(join(dir, 'log', `${nodeName}.log`), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    const child = server;
    server = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    // The script traps TERM and stops the node cleanly (what `systemctl stop` does).
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // gone
      }
    }, 30_000);
    await exited;
    clearTimeout(timer);
    // The Erlang VM is the script's child: make sure it is gone before the port is reused.
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(-(child.pid as number), 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    tlsPort,
    dir,
    url: `amqp://${PLANT.user}:${PLANT.password}@127.0.0.1:${port}`,
    stop,
    start,
    destroy: async () => {
      await stop();
      epmd.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => `${output}\n${logTail()}`,
  };
}
