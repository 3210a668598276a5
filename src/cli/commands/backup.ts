/** `flashtrail backup DIR`: a consistent online backup of the whole ledger, verified. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['DIR [--data DIR]'],
  description: [
    'Copies the ledger into DIR (new or empty; created 0700, files 0600) while it keeps running: each SQLite',
    'file as one consistent snapshot (VACUUM INTO), the derived files before the event store, then the keys,',
    'trust files, tokens and SBOMs, each written durably. The manifest (flashtrail-ledger-backup.json) is',
    'written last, with the SHA-256 of every file and the size and root of the newest signed checkpoint; then',
    'the copy is verified as `flashtrail backup verify DIR` does. Progress goes to stderr. SQLite stores only:',
    'a PostgreSQL store is backed up with pg_dump, its keys with flashtrail keys backup.',
  ].join('\n'),
  arguments: [{ name: 'DIR', help: 'the new backup directory (on another disk than the data directory)' }],
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_TOKENS_FILE', 'FLASHTRAIL_ADMIN_KEYS_FILE', 'FLASHTRAIL_STORE'],
  async run({ values, positionals }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { backUpLedger } = await import('../../server/ledger-backup.ts');
    const result = await backUpLedger(config, positionals[0] as string, (line) => process.stderr.write(`flashtrail: ${line}\n`));
    const { manifest } = result;
    console.log(`backed up ${manifest.files.length} files, ${manifest.events.count} events, to ${result.to}`);
    console.log(manifest.checkpoint ? `signed checkpoint: size ${manifest.checkpoint.size}, root ${manifest.checkpoint.root} (recomputed from the copied events: equal)` : 'no checkpoint signed yet: the copy has no signed root to be checked against');
    console.log(`ledger ${manifest.origin}, key ${manifest.ledgerKeyId}; manifest ${result.to}/flashtrail-ledger-backup.json`);
    return 0;
  },
});

export default command;
