/** `flashtrail projections rebuild`: the derived files of a data directory, recomputed from the event log. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { CliError } from '../errors.ts';
import { configFromEnv } from '../../server/config.ts';
import { toHex } from '../../crypto/encoding.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--data DIR]'],
  description: [
    'Recreates the read model (readmodel.sqlite) and the Merkle log (merkle.sqlite) from the configured event',
    'store, with the ledger stopped. Reports whether the rebuilt Merkle log has the root the old one had at',
    'the same size: if not, the event log no longer holds what the Merkle log (and any checkpoint) committed to.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_STORE', 'FLASHTRAIL_EVENTSTORE_CONNECTION_STRING'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    // Opening a missing SQLite file would create an empty store, and rebuild empty views from it.
    if (config.store === 'sqlite' && !existsSync(join(config.dataDir, 'events.sqlite'))) throw new CliError(`${join(config.dataDir, 'events.sqlite')}: no such file or directory (is ${config.dataDir} a data directory?)`);
    const [{ openEventStore }, { ProjectionRunner }, { MerkleLog }, { unitStateProjection }, { productionProjection }] = await Promise.all([
      import('../../server/main.ts'),
      import('../../read/projection-runner.ts'),
      import('../../read/merkle-log.ts'),
      import('../../../projections/unit-state.ts'),
      import('../../../projections/production.ts'),
    ]);
    const store = openEventStore(config);
    try {
      const runner = new ProjectionRunner(store, join(config.dataDir, 'readmodel.sqlite'), [unitStateProjection, productionProjection]);
      await runner.rebuild((position, head) => console.error(`rebuilding projections: ${position < 0n ? 0 : position}/${head < 0n ? 0 : head} events`));
      runner.close();
      const log = new MerkleLog(store, join(config.dataDir, 'merkle.sqlite'));
      try {
        // The old log may lag the event log (it catches up in the background): compare at its size, not at the new one.
        const before = log.size > 0 ? { size: log.size, root: toHex(log.root()) } : null;
        await log.rebuild();
        const after = toHex(log.root());
        let verdict = '';
        if (before !== null) {
          if (log.size < before.size) verdict = ` (WAS ${before.size} leaves: the event log lost events the Merkle log held)`;
          else verdict = toHex(log.root(before.size)) === before.root ? ` (matches the old log's root at size ${before.size})` : ` (WAS ${before.root} at size ${before.size}: the event log no longer matches the Merkle log)`;
        }
        console.error(`rebuilt Merkle log: ${log.size} leaves, root ${after}${verdict}`);
      } finally {
        log.close();
      }
    } finally {
      await store.close();
    }
    console.error('rebuild complete');
    return 0;
  },
});

export default command;
