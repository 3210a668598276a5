/** `flashtrail --help`: the commands, the environment, the exit codes. */
import { COMMANDS, subcommandsOf } from './registry.ts';

/** Every environment variable flashtrail reads, with what it sets. */
export const ENVIRONMENT: readonly (readonly [name: string, help: string])[] = [
  ['FLASHTRAIL_DATA_DIR', 'data directory (default ./data; --data)'],
  ['FLASHTRAIL_HOST', 'address serve listens on, and admin submit and export call (default 127.0.0.1)'],
  ['FLASHTRAIL_PORT', 'port of the same (default 8080; 0 picks a free one)'],
  ['FLASHTRAIL_URL', 'the ledger the client commands call (default: what serve wrote to <data>/ledger.url)'],
  ['FLASHTRAIL_TOKENS_FILE', 'bearer tokens, stored hashed (default <data>/tokens.json)'],
  ['FLASHTRAIL_TOKENS', 'the same token list as inline JSON; wins over the file'],
  ['FLASHTRAIL_ADMIN_KEYS_FILE', 'administrator public keys the ledger trusts (default <data>/admin-keys.json)'],
  ['FLASHTRAIL_LOG_LEVEL', 'pino log level of serve (default info)'],
  ['FLASHTRAIL_MAX_BODY_BYTES', 'largest request body serve accepts (default 4194304)'],
  ['FLASHTRAIL_CHECKPOINT_EVERY_EVENTS', 'sign a checkpoint after this many new events (default 1000)…'],
  ['FLASHTRAIL_CHECKPOINT_INTERVAL_S', '…or after this many seconds, whichever comes first (default 60)'],
  ['FLASHTRAIL_LOG_ORIGIN', 'log origin of a new data directory (default flashtrail.local/<random>)'],
  ['FLASHTRAIL_STORE', 'event store: sqlite (default, in the data directory), postgres or eventstoredb'],
  ['FLASHTRAIL_POSTGRES_URL', 'PostgreSQL, e.g. postgres://flashtrail@localhost:5432/flashtrail'],
  ['FLASHTRAIL_POSTGRES_SCHEMA', 'schema of the ledger\'s tables in that database (default flashtrail)'],
  ['FLASHTRAIL_EVENTSTORE_CONNECTION_STRING', 'KurrentDB/EventStoreDB, e.g. esdb://localhost:2113?tls=false'],
  ['EVENTSTORE_CONNECTION_STRING', 'read when FLASHTRAIL_EVENTSTORE_CONNECTION_STRING is unset'],
  ['FLASHTRAIL_START_CHECK_LEAVES', 'newest Merkle leaves serve compares with the event store at start (default 10000)'],
  ['FLASHTRAIL_VERIFY_THREADS', 'worker threads verifying submitted signatures (default: cores - 1, 1 to 4; 0: none)'],
  ['FLASHTRAIL_READ_SIDE_THREAD', 'on (default): on SQLite the live read-model pass runs on a thread of its own; off: on the serving thread'],
  ['FLASHTRAIL_MERKLE_THREAD', 'on (default): on SQLite the Merkle log\'s leaves are appended on a thread of their own; off: on the serving thread'],
  ['FLASHTRAIL_PROJECTION_SETTLE_MS', 'how long the live read-model pass waits after an append to take the next ones along (default: 10)'],
  ['FLASHTRAIL_WITNESS_POLICY', 'witness policy file (C2SP tlog-policy): serve submits each checkpoint to its witnesses'],
  ['FLASHTRAIL_WITNESS_TIMEOUT_S', 'how long one witness may take to answer one checkpoint (default 5)'],
  ['FLASHTRAIL_PQ_SIGNATURES', 'ml-dsa-44 (default): checkpoints signed with Ed25519 and ML-DSA-44; off: Ed25519 alone'],
  ['FLASHTRAIL_TOKEN', 'bearer token of verify-consistency --url when no --token-file is given'],
];

const table = (rows: readonly (readonly [string, string])[], width: number) =>
  rows.map(([left, right]) => (left.length + 2 > width ? `  ${left}\n  ${' '.repeat(width)}${right}` : `  ${left.padEnd(width)}${right}`));

export function renderTopHelp(version: string): string {
  return [
    `flashtrail ${version}: signed, append-only traceability ledger for factory firmware flashing`,
    '',
    'usage: flashtrail COMMAND [ARGUMENTS] [OPTIONS]',
    '       flashtrail COMMAND --help       the usage and options of one command',
    '       flashtrail --version',
    '',
    'commands:',
    ...table(COMMANDS.map((c) => [c.name, c.summary]), 22),
    '',
    'environment:',
    ...table(ENVIRONMENT, 41),
    '',
    'exit status: 0 done (verified), 1 failed (verification failed, refused, or a file, key or network error),',
    '             2 usage error',
  ].join('\n');
}

/** `flashtrail station --help`. */
export function renderGroupHelp(group: string): string {
  const subs = subcommandsOf(group);
  return [
    `usage: flashtrail ${group} ${subs.map((c) => c.name.slice(group.length + 1)).join('|')} [ARGUMENTS] [OPTIONS]`,
    `       flashtrail ${group} SUBCOMMAND --help`,
    '',
    'subcommands:',
    ...table(subs.map((c) => [c.name.slice(group.length + 1), c.summary]), 10),
  ].join('\n');
}

/** For a command that also heads a group (`backup DIR`, `backup verify DIR`): its subcommands, after its own help. */
export function renderSubcommandsOf(group: string): string {
  const subs = subcommandsOf(group);
  return ['', '', 'subcommands:', ...table(subs.map((c) => [c.name.slice(group.length + 1), c.summary]), 10), '', `see flashtrail ${group} SUBCOMMAND --help`].join('\n');
}
