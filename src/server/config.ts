/**
 * The ledger's configuration: environment variables, overridden by command-line options. Kept apart from the
 * composition root (main.ts) so that client commands can find the data directory and the ledger's address
 * without loading the server.
 *
 * Every variable is validated by one zod schema before anything starts: a setting that cannot be used stops
 * the command with one line naming the variable, what it must be and what it was. A misspelt number never
 * silently becomes NaN (which would disable the body limit, or make a 1 ms checkpoint timer), and an empty
 * value is refused rather than read as "unset" or as 0.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { TokenFile } from '../files/token-file.ts';
import { CFX_ENVIRONMENT, cfxConfigFromEnv, CfxEnvSchema, type CfxConfig } from '../plant/config.ts';
import { defaultVerifyThreads } from '../native/signature-pool.ts';

/** A configuration value that cannot be used (a bad port, an unknown store): the operator's to fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LedgerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly tokensFile: string;
  /** JSON token list from the environment; takes precedence over tokensFile. */
  readonly tokensJson: string | null;
  readonly adminKeysFile: string;
  readonly logLevel: LogLevel;
  readonly maxBodyBytes: number;
  /** Sign a checkpoint once this many events arrived since the last one… */
  readonly checkpointEveryEvents: number;
  /** …or this long after the last one, whichever comes first. */
  readonly checkpointIntervalMs: number;
  /** Log origin for a new data directory (the checkpoint's first line and the ledger key's name). */
  readonly originForNewLedger: string | null;
  /**
   * 'sqlite' (default: one file in the data directory), 'postgres' (PostgreSQL 14 or later, shareable by
   * several instances) or 'eventstoredb' (KurrentDB / EventStoreDB).
   */
  readonly store: 'sqlite' | 'postgres' | 'eventstoredb';
  readonly eventStoreConnectionString: string | null;
  /** postgres://user:password@host:5432/database, for store 'postgres'. */
  readonly postgresUrl: string | null;
  /** The schema holding this ledger's tables (one database can hold several ledgers). */
  readonly postgresSchema: string;
  /** How many of the newest Merkle leaves are compared with the event store at every start. */
  readonly startCheckLeaves: number;
  /** Worker threads verifying submitted signatures beside the writer thread; 0 verifies on the writer thread. */
  readonly verifyThreads: number;
  /** How long the live projection pass waits after an append so that it takes the next ones along (ms). */
  readonly projectionSettleMs: number;
  /**
   * On a SQLite store, the live read-model pass runs on its own worker thread (src/read/read-side-worker.ts)
   * rather than on the thread that serves requests; off: on that thread (FLASHTRAIL_READ_SIDE_THREAD=off).
   */
  readonly readSideThread: boolean;
  /**
   * On a SQLite store, the Merkle log's appends run on a worker thread of their own (src/read/merkle-append-thread.ts)
   * rather than on the thread that serves requests; off: on that thread (FLASHTRAIL_MERKLE_THREAD=off).
   */
  readonly merkleThread: boolean;
  /** The plant broker (IPC-CFX publisher and interlock), or null: FLASHTRAIL_CFX_BROKER_URL unset. */
  readonly cfx: CfxConfig | null;
  /**
   * A witness policy (C2SP tlog-policy, docs/format.md §5.2): every new checkpoint is submitted to the
   * witnesses it lists with a URL, and served with the cosignatures they give. Null: no witnesses.
   */
  readonly witnessPolicyFile: string | null;
  /** How long one witness may take to answer one add-checkpoint. */
  readonly witnessTimeoutMs: number;
  /**
   * The post-quantum half of the ledger's hybrid signatures: 'ml-dsa-44' (default) keeps an ML-DSA-44 key
   * beside the Ed25519 one and signs every checkpoint with both; 'off' signs with Ed25519 alone.
   */
  readonly pqSignatures: 'ml-dsa-44' | 'off';
}

/** A value as the message shows it: quoted when it is empty or holds spaces or control characters. */
const shown = (value: string) => (/^[\x21-\x7e]+$/.test(value) ? value : JSON.stringify(value));

function wholeNumber(name: string, min: number, max: number, unit = '') {
  const what = `${name} must be a whole number${unit} from ${min} to ${max}`;
  return z.string().transform((raw, ctx) => {
    const n = Number(raw);
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `${what}, not ${shown(raw)}${raw === '' ? ' (unset it for the default)' : ''}` });
      return z.NEVER;
    }
    return n;
  });
}

function seconds(name: string, min: number, max: number) {
  return z.string().transform((raw, ctx) => {
    const n = Number(raw);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || !(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a number of seconds from ${min} to ${max}, not ${shown(raw)}${raw === '' ? ' (unset it for the default)' : ''}` });
      return z.NEVER;
    }
    return n;
  });
}

function oneOf<const T extends readonly string[]>(name: string, values: T, aliases: Readonly<Record<string, T[number]>> = {}) {
  return z.string().transform((raw, ctx): T[number] => {
    if ((values as readonly string[]).includes(raw)) return raw as T[number];
    const alias = aliases[raw];
    if (alias !== undefined) return alias;
    ctx.addIssue({ code: 'custom', message: `${name} must be ${values.slice(0, -1).join(', ')}${values.length > 1 ? ' or ' : ''}${values[values.length - 1] as string}, not ${shown(raw)}` });
    return z.NEVER;
  });
}

function text(name: string, pattern: RegExp, what: string) {
  return z.string().refine((raw) => pattern.test(raw), { message: `${name} must be ${what}` });
}

const nonEmpty = (name: string, what: string) => text(name, /\S/, `${what}, not empty (unset it for the default)`);

/** The witness part of the configuration (src/witness/client.ts submits, src/tlog/policy.ts parses the file). */
export const WitnessEnvironment = z.object({
  FLASHTRAIL_WITNESS_POLICY: nonEmpty('FLASHTRAIL_WITNESS_POLICY', 'a witness policy file (C2SP tlog-policy)').optional(),
  FLASHTRAIL_WITNESS_TIMEOUT_S: seconds('FLASHTRAIL_WITNESS_TIMEOUT_S', 0.1, 600).optional(),
});

/** Every environment variable of the server, and what it must hold. */
export const ServerEnvironment = z.object({
  FLASHTRAIL_DATA_DIR: nonEmpty('FLASHTRAIL_DATA_DIR', 'a directory').optional(),
  FLASHTRAIL_HOST: text('FLASHTRAIL_HOST', /^[A-Za-z0-9.:%_-]+$/, 'an address or host name to listen on, such as 127.0.0.1, 0.0.0.0 or ::1').optional(),
  FLASHTRAIL_PORT: wholeNumber('FLASHTRAIL_PORT', 0, 65_535).optional(),
  FLASHTRAIL_TOKENS_FILE: nonEmpty('FLASHTRAIL_TOKENS_FILE', 'a file').optional(),
  FLASHTRAIL_TOKENS: z
    .string()
    .superRefine((raw, ctx) => {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `FLASHTRAIL_TOKENS must be a JSON token list {"tokens": [...]}: ${(error as Error).message}` });
        return;
      }
      const parsed = TokenFile.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        ctx.addIssue({ code: 'custom', message: `FLASHTRAIL_TOKENS is not a valid token list: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}` });
      }
    })
    .optional(),
  FLASHTRAIL_ADMIN_KEYS_FILE: nonEmpty('FLASHTRAIL_ADMIN_KEYS_FILE', 'a file').optional(),
  FLASHTRAIL_LOG_LEVEL: oneOf('FLASHTRAIL_LOG_LEVEL', LOG_LEVELS).optional(),
  FLASHTRAIL_MAX_BODY_BYTES: wholeNumber('FLASHTRAIL_MAX_BODY_BYTES', 1024, 1024 ** 3, ' of bytes').optional(),
  FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: wholeNumber('FLASHTRAIL_CHECKPOINT_EVERY_EVENTS', 1, 100_000_000).optional(),
  FLASHTRAIL_CHECKPOINT_INTERVAL_S: seconds('FLASHTRAIL_CHECKPOINT_INTERVAL_S', 0.1, 86_400).optional(),
  FLASHTRAIL_LOG_ORIGIN: text('FLASHTRAIL_LOG_ORIGIN', /^[^\s+]{1,200}$/u, "a log origin without spaces or '+', such as plant1.example.com/ledger").optional(),
  FLASHTRAIL_STORE: oneOf('FLASHTRAIL_STORE', ['sqlite', 'postgres', 'eventstoredb'] as const, { kurrentdb: 'eventstoredb', postgresql: 'postgres' }).optional(),
  FLASHTRAIL_POSTGRES_URL: text('FLASHTRAIL_POSTGRES_URL', /^postgres(ql)?:\/\/\S+$/, 'a postgres:// connection URL').optional(),
  FLASHTRAIL_POSTGRES_SCHEMA: text('FLASHTRAIL_POSTGRES_SCHEMA', /^[a-z_][a-z0-9_]{0,39}$/, 'a schema name: a lowercase letter or _, then up to 39 lowercase letters, digits or _').optional(),
  FLASHTRAIL_EVENTSTORE_CONNECTION_STRING: nonEmpty('FLASHTRAIL_EVENTSTORE_CONNECTION_STRING', 'a connection string').optional(),
  EVENTSTORE_CONNECTION_STRING: z.string().optional(),
  FLASHTRAIL_START_CHECK_LEAVES: wholeNumber('FLASHTRAIL_START_CHECK_LEAVES', 0, Number.MAX_SAFE_INTEGER).optional(),
  FLASHTRAIL_VERIFY_THREADS: wholeNumber('FLASHTRAIL_VERIFY_THREADS', 0, 64).optional(),
  FLASHTRAIL_PROJECTION_SETTLE_MS: wholeNumber('FLASHTRAIL_PROJECTION_SETTLE_MS', 0, 1000).optional(),
  FLASHTRAIL_READ_SIDE_THREAD: oneOf('FLASHTRAIL_READ_SIDE_THREAD', ['on', 'off'] as const, {}).optional(),
  FLASHTRAIL_MERKLE_THREAD: oneOf('FLASHTRAIL_MERKLE_THREAD', ['on', 'off'] as const, {}).optional(),
  // The plant broker (src/plant/config.ts): checked as a whole, with the password file, by cfxConfigFromEnv.
  ...CfxEnvSchema.shape,
  ...WitnessEnvironment.shape,
  FLASHTRAIL_PQ_SIGNATURES: oneOf('FLASHTRAIL_PQ_SIGNATURES', ['ml-dsa-44', 'off'] as const, {}).optional(),
});

export type ServerEnvironment = z.infer<typeof ServerEnvironment>;

/** The environment, validated: the first unusable variable is a ConfigError naming it. */
export function serverEnvironment(env: NodeJS.ProcessEnv): ServerEnvironment {
  // Read by name (not by spreading env): every variable the server reads is spelt out here once.
  const raw = {
    FLASHTRAIL_DATA_DIR: env['FLASHTRAIL_DATA_DIR'],
    FLASHTRAIL_HOST: env['FLASHTRAIL_HOST'],
    FLASHTRAIL_PORT: env['FLASHTRAIL_PORT'],
    FLASHTRAIL_TOKENS_FILE: env['FLASHTRAIL_TOKENS_FILE'],
    FLASHTRAIL_TOKENS: env['FLASHTRAIL_TOKENS'],
    FLASHTRAIL_ADMIN_KEYS_FILE: env['FLASHTRAIL_ADMIN_KEYS_FILE'],
    FLASHTRAIL_LOG_LEVEL: env['FLASHTRAIL_LOG_LEVEL'],
    FLASHTRAIL_MAX_BODY_BYTES: env['FLASHTRAIL_MAX_BODY_BYTES'],
    FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: env['FLASHTRAIL_CHECKPOINT_EVERY_EVENTS'],
    FLASHTRAIL_CHECKPOINT_INTERVAL_S: env['FLASHTRAIL_CHECKPOINT_INTERVAL_S'],
    FLASHTRAIL_LOG_ORIGIN: env['FLASHTRAIL_LOG_ORIGIN'],
    FLASHTRAIL_STORE: env['FLASHTRAIL_STORE'],
    FLASHTRAIL_EVENTSTORE_CONNECTION_STRING: env['FLASHTRAIL_EVENTSTORE_CONNECTION_STRING'],
    FLASHTRAIL_POSTGRES_URL: env['FLASHTRAIL_POSTGRES_URL'],
    FLASHTRAIL_POSTGRES_SCHEMA: env['FLASHTRAIL_POSTGRES_SCHEMA'],
    EVENTSTORE_CONNECTION_STRING: env['EVENTSTORE_CONNECTION_STRING'],
    FLASHTRAIL_START_CHECK_LEAVES: env['FLASHTRAIL_START_CHECK_LEAVES'],
    FLASHTRAIL_VERIFY_THREADS: env['FLASHTRAIL_VERIFY_THREADS'],
    FLASHTRAIL_PROJECTION_SETTLE_MS: env['FLASHTRAIL_PROJECTION_SETTLE_MS'],
    FLASHTRAIL_READ_SIDE_THREAD: env['FLASHTRAIL_READ_SIDE_THREAD'],
    FLASHTRAIL_MERKLE_THREAD: env['FLASHTRAIL_MERKLE_THREAD'],
    // Unset and empty are the same for the plant settings (a compose file writes empty ones).
    ...Object.fromEntries(CFX_ENVIRONMENT.map((k) => [k, env[k] === '' ? undefined : env[k]])),
    FLASHTRAIL_WITNESS_POLICY: env['FLASHTRAIL_WITNESS_POLICY'],
    FLASHTRAIL_WITNESS_TIMEOUT_S: env['FLASHTRAIL_WITNESS_TIMEOUT_S'],
    FLASHTRAIL_PQ_SIGNATURES: env['FLASHTRAIL_PQ_SIGNATURES'],
  };
  const parsed = ServerEnvironment.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'the environment');
    const message = issue?.message ?? 'invalid';
    throw new ConfigError(message.startsWith(name) ? message : `${name}: ${message}`);
  }
  return parsed.data;
}

export function configFromEnv(env: NodeJS.ProcessEnv, overrides: Partial<LedgerConfig> = {}): LedgerConfig {
  const e = serverEnvironment(env);
  const dataDir = resolve(overrides.dataDir ?? e.FLASHTRAIL_DATA_DIR ?? './data');
  const port = overrides.port ?? e.FLASHTRAIL_PORT ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`the port (--port or FLASHTRAIL_PORT) must be a whole number from 0 to 65535, not ${String(port)}`);
  const config: LedgerConfig = {
    dataDir,
    host: overrides.host ?? e.FLASHTRAIL_HOST ?? '127.0.0.1',
    port,
    tokensFile: overrides.tokensFile ?? e.FLASHTRAIL_TOKENS_FILE ?? join(dataDir, 'tokens.json'),
    tokensJson: overrides.tokensJson ?? e.FLASHTRAIL_TOKENS ?? null,
    adminKeysFile: overrides.adminKeysFile ?? e.FLASHTRAIL_ADMIN_KEYS_FILE ?? join(dataDir, 'admin-keys.json'),
    logLevel: overrides.logLevel ?? e.FLASHTRAIL_LOG_LEVEL ?? 'info',
    maxBodyBytes: overrides.maxBodyBytes ?? e.FLASHTRAIL_MAX_BODY_BYTES ?? 4 * 1024 * 1024,
    checkpointEveryEvents: overrides.checkpointEveryEvents ?? e.FLASHTRAIL_CHECKPOINT_EVERY_EVENTS ?? 1000,
    checkpointIntervalMs: overrides.checkpointIntervalMs ?? Math.round((e.FLASHTRAIL_CHECKPOINT_INTERVAL_S ?? 60) * 1000),
    originForNewLedger: overrides.originForNewLedger ?? e.FLASHTRAIL_LOG_ORIGIN ?? null,
    store: overrides.store ?? e.FLASHTRAIL_STORE ?? 'sqlite',
    eventStoreConnectionString: overrides.eventStoreConnectionString ?? e.FLASHTRAIL_EVENTSTORE_CONNECTION_STRING ?? (e.EVENTSTORE_CONNECTION_STRING || null),
    postgresUrl: overrides.postgresUrl ?? e.FLASHTRAIL_POSTGRES_URL ?? null,
    postgresSchema: overrides.postgresSchema ?? e.FLASHTRAIL_POSTGRES_SCHEMA ?? 'flashtrail',
    startCheckLeaves: overrides.startCheckLeaves ?? e.FLASHTRAIL_START_CHECK_LEAVES ?? 10_000,
    verifyThreads: overrides.verifyThreads ?? e.FLASHTRAIL_VERIFY_THREADS ?? defaultVerifyThreads(),
    projectionSettleMs: overrides.projectionSettleMs ?? e.FLASHTRAIL_PROJECTION_SETTLE_MS ?? 10,
    readSideThread: overrides.readSideThread ?? (e.FLASHTRAIL_READ_SIDE_THREAD ?? 'on') === 'on',
    merkleThread: overrides.merkleThread ?? (e.FLASHTRAIL_MERKLE_THREAD ?? 'on') === 'on',
    cfx: overrides.cfx !== undefined ? overrides.cfx : plantConfig(env),
    witnessPolicyFile: overrides.witnessPolicyFile !== undefined ? overrides.witnessPolicyFile : e.FLASHTRAIL_WITNESS_POLICY ? resolve(e.FLASHTRAIL_WITNESS_POLICY) : null,
    witnessTimeoutMs: overrides.witnessTimeoutMs ?? Math.round((e.FLASHTRAIL_WITNESS_TIMEOUT_S ?? 5) * 1000),
    pqSignatures: overrides.pqSignatures ?? e.FLASHTRAIL_PQ_SIGNATURES ?? 'ml-dsa-44',
  };
  // Overrides come from code and command-line options: the same bounds hold for them.
  if (!Number.isSafeInteger(config.maxBodyBytes) || config.maxBodyBytes < 1) throw new ConfigError(`the body limit must be a positive whole number of bytes, not ${String(config.maxBodyBytes)}`);
  if (!(config.checkpointIntervalMs >= 1)) throw new ConfigError(`the checkpoint interval must be positive, not ${String(config.checkpointIntervalMs)} ms`);
  if (!Number.isSafeInteger(config.checkpointEveryEvents) || config.checkpointEveryEvents < 1) throw new ConfigError(`the checkpoint cadence must be a positive whole number of events, not ${String(config.checkpointEveryEvents)}`);
  return config;
}

/** The plant settings, or a ConfigError naming the variable (the password file is read here, once). */
function plantConfig(env: NodeJS.ProcessEnv): CfxConfig | null {
  try {
    return cfxConfigFromEnv(env, (path) => readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as Error).name === 'ConfigError') throw new ConfigError((error as Error).message);
    throw error;
  }
}
/** The file a started ledger writes in its data directory: the URL it listens on, one line, for the client commands. */
export const LEDGER_URL_FILE = 'ledger.url';

/** The URL clients use to reach a ledger configured with this host and port. */
export function ledgerUrl(config: Pick<LedgerConfig, 'host' | 'port'>): string {
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}
