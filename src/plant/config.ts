/**
 * The plant broker's settings (IPC-CFX over AMQP 1.0), from the environment, as one zod schema the server's
 * configuration can include. Unset FLASHTRAIL_CFX_BROKER_URL: no CFX. A bad setting is refused with one line
 * naming the variable. The password never appears in a message or a log line (see describeBroker).
 */
import { z } from 'zod';
import { CfxHandle } from '../cfx/schema.ts';

/** A setting that cannot be used; named like the server's configuration error so the CLI prints one line. */
export class CfxConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface BrokerSettings {
  readonly scheme: 'amqp' | 'amqps';
  readonly host: string;
  readonly port: number;
  /** SASL PLAIN when set; SASL ANONYMOUS otherwise. */
  readonly username: string | null;
  readonly password: string | null;
  /** RabbitMQ virtual host, sent as the AMQP open frame's hostname `vhost:<name>`; null for the default. */
  readonly vhost: string | null;
  /** PEM file of the CA that signed the broker's certificate (amqps); the system's CAs when null. */
  readonly caFile: string | null;
  /** The name the broker's certificate must carry, when it is not the host. */
  readonly tlsServerName: string | null;
}

export interface CfxConfig {
  readonly broker: BrokerSettings;
  /** The ledger's CFX handle; stations publish as `<handle>.<station id>`. */
  readonly handle: string;
  /** AMQP target address messages are published to (RabbitMQ 3.x: `/exchange/<name>`, routed by subject). */
  readonly publishAddress: string;
  /** AMQP source address of ValidateUnitsRequest messages (e.g. `/amq/queue/flashtrail.validate`); null: none. */
  readonly validationAddress: string | null;
  /** Base URL of the ledger as the MES reaches it, for provenance links; null: the ledger's own URL. */
  readonly ledgerBaseUrl: string | null;
  /** Messages published but not yet accepted by the broker, at most. */
  readonly maxInFlight: number;
  /** First start on a ledger with history: publish it all (`beginning`) or only what comes next (`now`). */
  readonly start: 'beginning' | 'now';
}

const Address = z
  .string()
  .min(1)
  .max(1000)
  .regex(/^\S+$/, 'an AMQP address without spaces');

/** The environment variables, as read. */
export const CfxEnvSchema = z.object({
  FLASHTRAIL_CFX_BROKER_URL: z.string().optional(),
  FLASHTRAIL_CFX_HANDLE: CfxHandle.optional(),
  FLASHTRAIL_CFX_VHOST: z.string().min(1).max(200).regex(/^[^\s]+$/, 'no spaces').optional(),
  FLASHTRAIL_CFX_ADDRESS: Address.default('/exchange/amq.topic'),
  FLASHTRAIL_CFX_VALIDATION_ADDRESS: Address.optional(),
  FLASHTRAIL_CFX_PASSWORD_FILE: z.string().min(1).optional(),
  FLASHTRAIL_CFX_CA_FILE: z.string().min(1).optional(),
  FLASHTRAIL_CFX_TLS_SERVERNAME: z.string().min(1).max(253).optional(),
  FLASHTRAIL_CFX_LEDGER_URL: z.url({ protocol: /^https?$/ }).optional(),
  FLASHTRAIL_CFX_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(64),
  FLASHTRAIL_CFX_START: z.enum(['beginning', 'now']).default('beginning'),
});

export const CFX_ENVIRONMENT = Object.keys(CfxEnvSchema.shape) as (keyof typeof CfxEnvSchema.shape)[];

/** Never the password: for logs and error lines. */
export function describeBroker(b: BrokerSettings): string {
  const host = b.host.includes(':') ? `[${b.host}]` : b.host;
  return `${b.scheme}://${b.username ? `${b.username}@` : ''}${host}:${b.port}${b.vhost ? ` (vhost ${b.vhost})` : ''}`;
}

function parseBrokerUrl(text: string, settings: z.infer<typeof CfxEnvSchema>, readFile: (path: string) => string): BrokerSettings {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CfxConfigError('FLASHTRAIL_CFX_BROKER_URL is not a URL: expected amqp://user@host:5672 or amqps://user@host:5671');
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'amqp' && scheme !== 'amqps') throw new CfxConfigError(`FLASHTRAIL_CFX_BROKER_URL must be amqp:// or amqps://, not ${scheme}://`);
  if (!url.hostname) throw new CfxConfigError('FLASHTRAIL_CFX_BROKER_URL names no host');
  if (url.pathname !== '' && url.pathname !== '/') throw new CfxConfigError('FLASHTRAIL_CFX_BROKER_URL has a path: give the virtual host in FLASHTRAIL_CFX_VHOST');
  if (url.search || url.hash) throw new CfxConfigError('FLASHTRAIL_CFX_BROKER_URL has a query or fragment: it takes none');
  const username = url.username ? decodeURIComponent(url.username) : null;
  let password = url.password ? decodeURIComponent(url.password) : null;
  if (settings.FLASHTRAIL_CFX_PASSWORD_FILE) {
    if (password !== null) throw new CfxConfigError('give the broker password either in FLASHTRAIL_CFX_BROKER_URL or in FLASHTRAIL_CFX_PASSWORD_FILE, not both');
    try {
      password = readFile(settings.FLASHTRAIL_CFX_PASSWORD_FILE).replace(/\r?\n$/, '');
    } catch {
      throw new CfxConfigError(`FLASHTRAIL_CFX_PASSWORD_FILE ${settings.FLASHTRAIL_CFX_PASSWORD_FILE} cannot be read`);
    }
    if (password === '') throw new CfxConfigError(`FLASHTRAIL_CFX_PASSWORD_FILE ${settings.FLASHTRAIL_CFX_PASSWORD_FILE} is empty`);
  }
  if (password !== null && username === null) throw new CfxConfigError('FLASHTRAIL_CFX_BROKER_URL has a password but no user name');
  if (username !== null && password === null) throw new CfxConfigError(`the broker user ${username} has no password: put it in FLASHTRAIL_CFX_PASSWORD_FILE (or the URL)`);
  if (scheme === 'amqp' && (settings.FLASHTRAIL_CFX_CA_FILE || settings.FLASHTRAIL_CFX_TLS_SERVERNAME)) {
    throw new CfxConfigError('FLASHTRAIL_CFX_CA_FILE and FLASHTRAIL_CFX_TLS_SERVERNAME are for amqps:// (TLS); the broker URL is amqp://');
  }
  return {
    scheme,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : scheme === 'amqps' ? 5671 : 5672,
    username,
    password,
    vhost: settings.FLASHTRAIL_CFX_VHOST ?? null,
    caFile: settings.FLASHTRAIL_CFX_CA_FILE ?? null,
    tlsServerName: settings.FLASHTRAIL_CFX_TLS_SERVERNAME ?? null,
  };
}

/**
 * The CFX settings in `env`, or null when no broker is configured. Throws CfxConfigError (one line, naming the
 * variable) for a setting that cannot be used. `readFile` reads the password file.
 */
export function cfxConfigFromEnv(env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string): CfxConfig | null {
  const present = Object.fromEntries(CFX_ENVIRONMENT.filter((k) => env[k] !== undefined && env[k] !== '').map((k) => [k, env[k]]));
  const parsed = CfxEnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    throw new CfxConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  if (!e.FLASHTRAIL_CFX_BROKER_URL) {
    const stray = CFX_ENVIRONMENT.filter((k) => k in present && k !== 'FLASHTRAIL_CFX_BROKER_URL');
    if (stray.length > 0) throw new CfxConfigError(`${stray.join(', ')} set, but no FLASHTRAIL_CFX_BROKER_URL: set the broker URL, or unset them`);
    return null;
  }
  if (!e.FLASHTRAIL_CFX_HANDLE) throw new CfxConfigError('FLASHTRAIL_CFX_HANDLE is required with a broker: the ledger\'s CFX handle, e.g. Plant1.L1.flashtrail');
  return {
    broker: parseBrokerUrl(e.FLASHTRAIL_CFX_BROKER_URL, e, readFile),
    handle: e.FLASHTRAIL_CFX_HANDLE,
    publishAddress: e.FLASHTRAIL_CFX_ADDRESS,
    validationAddress: e.FLASHTRAIL_CFX_VALIDATION_ADDRESS ?? null,
    ledgerBaseUrl: e.FLASHTRAIL_CFX_LEDGER_URL?.replace(/\/+$/, '') ?? null,
    maxInFlight: e.FLASHTRAIL_CFX_MAX_IN_FLIGHT,
    start: e.FLASHTRAIL_CFX_START,
  };
}
