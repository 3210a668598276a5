/** `flashtrail keys rotate`: a new Ed25519 ledger key, announced at the next start under the old one. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--data DIR]'],
  description: [
    "Replaces the ledger's Ed25519 key (ledger.key, mode 0600) with a new one and keeps the old one as",
    'ledger.key.<key id>. Run it with the ledger stopped: the running ledger is the only writer of its key',
    'files (the data directory lock refuses the command otherwise). At the next start the ledger appends a',
    'LedgerKeyRotated record signed with the old key, naming the new one, and signs every later checkpoint',
    'with the new key; the origin stays. Verifiers pinned to the old key follow that signed chain; pin the',
    'printed verifier key from now on. Back the new key up (keys backup) before you start the ledger.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { rotateLedgerKey } = await import('../../server/ledger-key-rotation.ts');
    const rotation = rotateLedgerKey(config.dataDir);
    console.log(JSON.stringify({ ...rotation, announcedAt: 'the next start of the ledger' }, null, 2));
    return 0;
  },
});

export default command;
