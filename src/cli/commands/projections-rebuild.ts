/** `flashtrail projections rebuild`: the derived files of a data directory, recomputed from the event log. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { CliError } from '../errors.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--data DIR]'],
  description: [
    'Recreates the read model (readmodel.sqlite) and the Merkle log (merkle.sqlite) from the configured event',
    'store, with the ledger stopped. The new Merkle log replaces the old one only if it reproduces every signed',
    'checkpoint; otherwise the old one is kept, the first diverging leaf is named, and the exit status is 1.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_STORE', 'FLASHTRAIL_EVENTSTORE_CONNECTION_STRING', 'FLASHTRAIL_POSTGRES_URL', 'FLASHTRAIL_POSTGRES_SCHEMA'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    // Opening a missing SQLite file would create an empty store, and rebuild empty views from it.
    if (config.store === 'sqlite' && !existsSync(join(config.dataDir, 'events.sqlite'))) throw new CliError(`${join(config.dataDir, 'events.sqlite')}: no such file or directory (is ${config.dataDir} a data directory?)`);
    const { rebuildDerivedFiles } = await import('../../server/rebuild.ts');
    return (await rebuildDerivedFiles(config, (line) => console.error(line))).ok ? 0 : 1;
  },
});

export default command;
