/** `flashtrail migrate`: copy every event, in order, from one store to another, and prove it by Merkle root. */
import { existsSync } from 'node:fs';
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { CliError, UsageError } from '../errors.ts';

const STORE_URL = /^(sqlite:.|postgres(ql)?:\/\/.|(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\/)/;

function storeUrl(raw: string, flag: string): string {
  if (!STORE_URL.test(raw)) throw new UsageError(`${flag} must be sqlite:PATH, postgres://USER@HOST/DATABASE[?schema=S] or kurrentdb://HOST:2113?tls=false (also esdb://), not ${redacted(raw)}`);
  return raw;
}

/** A URL as it may be printed: without its password. */
function redacted(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return raw;
  }
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--from sqlite:PATH --to postgres://USER@HOST/DATABASE[?schema=S]', '--from postgres://… --to sqlite:PATH', '--from sqlite:PATH --to esdb://HOST:2113?tls=false'],
  description: [
    'Copies the event log to another store (PostgreSQL, KurrentDB / EventStoreDB, or back into a SQLite file),',
    'keeping order, ids and bytes, then computes the Merkle root of both logs: equal roots mean the copy is',
    'complete and in the same order.',
    'Exits 1 when they differ.',
  ].join('\n'),
  options: {
    from: { type: 'string', value: 'STORE', required: true, help: 'the source: sqlite:PATH (the data directory’s events.sqlite), a PostgreSQL or a KurrentDB URL' },
    to: { type: 'string', value: 'STORE', required: true, help: 'the destination, e.g. postgres://flashtrail@localhost/flashtrail or sqlite:PATH' },
  },
  async run({ values }) {
    const source = storeUrl(values.from as string, '--from');
    // Opening a SQLite path creates an empty store: a mistyped source would "migrate" nothing, successfully.
    if (source.startsWith('sqlite:') && !existsSync(source.slice('sqlite:'.length))) throw new CliError(`${source.slice('sqlite:'.length)}: no such file or directory`);
    const { migrate, openStoreUrl } = await import('../../store/migrate.ts');
    const from = openStoreUrl(source);
    const to = openStoreUrl(storeUrl(values.to as string, '--to'));
    try {
      // A mistyped PostgreSQL URL opens an empty schema: copying nothing is no success.
      if ((await from.headPosition()) < 0n) throw new CliError(`${redacted(source)} holds no events: nothing to migrate`);
      let shown = 0;
      const result = await migrate(from, to, (copied, head) => {
        if (Date.now() - shown > 1000) {
          shown = Date.now();
          console.error(`  copied ${copied} events (source head at position ${head})`);
        }
      });
      console.log(`copied ${result.events} events\n  source Merkle root      ${result.sourceRoot}\n  destination Merkle root ${result.destinationRoot}`);
      if (result.sourceRoot !== result.destinationRoot) {
        console.error('flashtrail: the Merkle roots differ: the destination holds other events, or the copy is incomplete');
        return 1;
      }
      console.log('identical: the copy is complete and in the same order');
      return 0;
    } finally {
      await from.close();
      await to.close();
    }
  },
});

export default command;
