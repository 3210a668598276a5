/** `flashtrail tokens add`: a new bearer token, shown once. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { CliError, UsageError } from '../errors.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--name N --role station|auditor|admin [--station ID] [--data DIR]'],
  description: [
    'Adds a token to the token file (mode 0600; only its SHA-256 is stored) and prints the token on stdout,',
    'the only time it is shown. A running ledger picks it up without a restart.',
  ].join('\n'),
  options: {
    name: { type: 'string', value: 'N', required: true, help: 'a name for the token, unique in the file' },
    role: { type: 'string', value: 'ROLE', required: true, help: 'station (appends its own events), auditor (reads) or admin' },
    station: { type: 'string', value: 'ID', help: 'the station a station token is for' },
    data: { type: 'string', value: 'DIR', help: 'data directory whose tokens.json to add to (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_TOKENS_FILE'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const role = values.role;
    if (role !== 'station' && role !== 'auditor' && role !== 'admin') throw new UsageError(`--role must be station, auditor or admin, not ${String(role)}`);
    if (role === 'station' && values.station === undefined) throw new UsageError('a station token needs --station ID');
    if (role !== 'station' && values.station !== undefined) throw new UsageError('only a station token takes --station');
    // A token written where no ledger reads it never works, and nothing would say so: refuse a directory no
    // ledger has initialised (unless the token file was named explicitly).
    if (config.tokensFile === join(config.dataDir, 'tokens.json') && !existsSync(join(config.dataDir, 'ledger.json'))) {
      throw new CliError(`${config.dataDir} is not the data directory of a ledger (it has no ledger.json): name the ledger's directory with --data or FLASHTRAIL_DATA_DIR, or initialise it first (flashtrail init or flashtrail serve)`);
    }
    const name = values.name as string;
    const { addToken } = await import('../../api/tokens.ts');
    const token = addToken(config.tokensFile, { name, role, ...(role === 'station' ? { stationId: values.station as string } : {}) });
    console.error(`added token ${name} (${role}) to ${config.tokensFile}, read by the ledger on ${config.dataDir} without a restart; it is shown only now (save it in the file the station's or client's configuration names):`);
    console.log(token);
    return 0;
  },
});

export default command;
