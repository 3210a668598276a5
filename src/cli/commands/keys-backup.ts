/** `flashtrail keys backup`: copy the ledger's keys and trust files to offline media, durably, and check the copy. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--to DIR [--data DIR]'],
  description: [
    'Copies ledger.key and admin.key (the log\'s identity and its administrator) with ledger.json,',
    'admin-keys.json and tokens.json, and the keys a rotation replaced (ledger.key.<key id>,',
    'ledger-ml-dsa.key.<key id>), into DIR (created 0700; files 0600), each written durably, then reads',
    'every copy back and compares it byte for byte (and each key with its original). A file already in DIR',
    'is never overwritten with other content. The backup is recorded in the data directory (backups.json):',
    'serve warns at start while the keys in use have no recorded backup. DIR belongs on offline media, not',
    'on the ledger\'s disk.',
  ].join('\n'),
  options: {
    to: { type: 'string', value: 'DIR', required: true, help: 'the directory to copy into (e.g. a mounted USB key)' },
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_TOKENS_FILE', 'FLASHTRAIL_ADMIN_KEYS_FILE'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { backUpKeys } = await import('../../server/backup.ts');
    const result = backUpKeys(config, values.to as string);
    for (const f of result.files) {
      console.log(`${f.copied ? 'copied  ' : 'present '} ${f.name.padEnd(16)} sha256 ${f.sha256}${f.keyId ? `  key ${f.keyId}` : ''}  verified`);
    }
    console.log(`backed up ${result.files.length} files to ${result.to}; recorded in ${result.record}`);
    console.log('keep this copy offline and away from the ledger; restore a file by copying it back (mode 0600)');
    return 0;
  },
});

export default command;
