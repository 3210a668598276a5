/** `flashtrail serve`: the ledger API, until SIGINT or SIGTERM. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { wholeNumber } from '../input.ts';
import { runUntilSignal } from '../run-until-signal.ts';
import { LEDGER_URL_FILE, configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--data DIR] [--host H] [--port P]'],
  description: [
    'Serves the ledger over HTTP (default 127.0.0.1:8080, data in ./data). On first start the data directory',
    'is created (mode 0700) with the ledger key, an administrator key and an admin token (see flashtrail init).',
    'Logs one JSON line per request; stops cleanly on SIGINT or SIGTERM.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
    host: { type: 'string', value: 'H', help: 'address to listen on (default FLASHTRAIL_HOST or 127.0.0.1)' },
    port: { type: 'string', value: 'P', help: 'port to listen on, 0 for any free one (default FLASHTRAIL_PORT or 8080)' },
  },
  environment: [
    'FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT', 'FLASHTRAIL_TOKENS_FILE', 'FLASHTRAIL_TOKENS', 'FLASHTRAIL_ADMIN_KEYS_FILE',
    'FLASHTRAIL_LOG_LEVEL', 'FLASHTRAIL_MAX_BODY_BYTES', 'FLASHTRAIL_CHECKPOINT_EVERY_EVENTS', 'FLASHTRAIL_CHECKPOINT_INTERVAL_S',
    'FLASHTRAIL_LOG_ORIGIN', 'FLASHTRAIL_STORE', 'FLASHTRAIL_EVENTSTORE_CONNECTION_STRING', 'FLASHTRAIL_POSTGRES_URL', 'FLASHTRAIL_POSTGRES_SCHEMA', 'FLASHTRAIL_START_CHECK_LEAVES',
    'FLASHTRAIL_VERIFY_THREADS',
    // The plant broker (IPC-CFX): README, "Connecting to the plant".
    'FLASHTRAIL_CFX_BROKER_URL', 'FLASHTRAIL_CFX_HANDLE', 'FLASHTRAIL_CFX_VHOST', 'FLASHTRAIL_CFX_ADDRESS', 'FLASHTRAIL_CFX_VALIDATION_ADDRESS',
    'FLASHTRAIL_CFX_PASSWORD_FILE', 'FLASHTRAIL_CFX_CA_FILE', 'FLASHTRAIL_CFX_TLS_SERVERNAME', 'FLASHTRAIL_CFX_LEDGER_URL', 'FLASHTRAIL_CFX_MAX_IN_FLIGHT', 'FLASHTRAIL_CFX_START',
    'FLASHTRAIL_WITNESS_POLICY', 'FLASHTRAIL_WITNESS_TIMEOUT_S',
  ],
  async run({ values }) {
    const config = configFromEnv(process.env, {
      ...(values.data !== undefined ? { dataDir: values.data } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(values.port !== undefined ? { port: wholeNumber(values.port, '--port', 8080, 0, 65_535) } : {}),
    });
    const { startLedgerServer } = await import('../../server/main.ts');
    const running = await startLedgerServer(config);
    // Plain text for the operator (the JSON log lines go to stdout): where it listens, and where that is written.
    process.stderr.write(`flashtrail: ledger listening on ${running.url} (data ${config.dataDir}; URL written to ${join(config.dataDir, LEDGER_URL_FILE)})\n`);
    return runUntilSignal((signal) => running.close(signal));
  },
});

export default command;
