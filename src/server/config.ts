/**
 * The ledger's configuration: environment variables, overridden by command-line options. Kept apart from the
 * composition root (main.ts) so that client commands can find the data directory and the ledger's address
 * without loading the server.
 */
import { join, resolve } from 'node:path';

/** A configuration value that cannot be used (a bad port, an unknown store): the operator's to fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LedgerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly tokensFile: string;
  /** JSON token list from the environment; takes precedence over tokensFile. */
  readonly tokensJson: string | null;
  readonly adminKeysFile: string;
  readonly logLevel: string;
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
}

export function configFromEnv(env: NodeJS.ProcessEnv, overrides: Partial<LedgerConfig> = {}): LedgerConfig {
  const dataDir = resolve(overrides.dataDir ?? env['FLASHTRAIL_DATA_DIR'] ?? './data');
  const port = overrides.port ?? Number(env['FLASHTRAIL_PORT'] ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`the port (--port or FLASHTRAIL_PORT) must be a whole number from 0 to 65535, not ${String(port)}`);
  return {
    dataDir,
    host: overrides.host ?? env['FLASHTRAIL_HOST'] ?? '127.0.0.1',
    port,
    tokensFile: overrides.tokensFile ?? env['FLASHTRAIL_TOKENS_FILE'] ?? join(dataDir, 'tokens.json'),
    tokensJson: overrides.tokensJson ?? env['FLASHTRAIL_TOKENS'] ?? null,
    adminKeysFile: overrides.adminKeysFile ?? env['FLASHTRAIL_ADMIN_KEYS_FILE'] ?? join(dataDir, 'admin-keys.json'),
    logLevel: overrides.logLevel ?? env['FLASHTRAIL_LOG_LEVEL'] ?? 'info',
    maxBodyBytes: overrides.maxBodyBytes ?? Number(env['FLASHTRAIL_MAX_BODY_BYTES'] ?? 4 * 1024 * 1024),
    checkpointEveryEvents: overrides.checkpointEveryEvents ?? Number(env['FLASHTRAIL_CHECKPOINT_EVERY_EVENTS'] ?? 1000),
    checkpointIntervalMs: overrides.checkpointIntervalMs ?? Number(env['FLASHTRAIL_CHECKPOINT_INTERVAL_S'] ?? 60) * 1000,
    originForNewLedger: overrides.originForNewLedger ?? env['FLASHTRAIL_LOG_ORIGIN'] ?? null,
    store: overrides.store ?? storeKind(env['FLASHTRAIL_STORE']),
    eventStoreConnectionString: overrides.eventStoreConnectionString ?? env['FLASHTRAIL_EVENTSTORE_CONNECTION_STRING'] ?? env['EVENTSTORE_CONNECTION_STRING'] ?? null,
    postgresUrl: overrides.postgresUrl ?? env['FLASHTRAIL_POSTGRES_URL'] ?? null,
    postgresSchema: overrides.postgresSchema ?? env['FLASHTRAIL_POSTGRES_SCHEMA'] ?? 'flashtrail',
  };
}

function storeKind(value: string | undefined): LedgerConfig['store'] {
  if (value === undefined || value === '' || value === 'sqlite') return 'sqlite';
  if (value === 'eventstoredb' || value === 'kurrentdb') return 'eventstoredb';
  if (value === 'postgres' || value === 'postgresql') return 'postgres';
  throw new ConfigError(`FLASHTRAIL_STORE must be sqlite, postgres or eventstoredb, not ${value}`);
}

/** The URL clients use to reach a ledger configured with this host and port. */
export function ledgerUrl(config: Pick<LedgerConfig, 'host' | 'port'>): string {
  return `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}
