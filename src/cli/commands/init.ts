/** `flashtrail init`: a data directory with its keys and first admin token, without starting the server. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--data DIR]'],
  description: [
    'Creates the data directory (mode 0700) with the ledger key that signs checkpoints, an administrator',
    'signing key, the list of trusted administrator keys and an admin token in a file (keys and token mode',
    '0600). Prints the files and the verifier key to give auditors, and, until a backup of the keys is',
    'recorded, how to make one (flashtrail keys backup). Does nothing to an initialised directory.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_TOKENS_FILE', 'FLASHTRAIL_TOKENS', 'FLASHTRAIL_ADMIN_KEYS_FILE', 'FLASHTRAIL_LOG_ORIGIN'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { initDataDir } = await import('../../server/main.ts');
    const init = initDataDir(config);
    console.log(init.created ? `initialised ${config.dataDir}` : `${config.dataDir} is already initialised`);
    console.log(`  administrator key: ${init.adminKeyFile}\n  admin token:       ${init.adminTokenFile}\n  ledger key:        ${init.ledgerKeyFile}`);
    console.log(`  verifier key (give it to auditors):\n  ${init.verifierKey}`);
    const { keysWithoutBackup } = await import('../../server/backup.ts');
    if (keysWithoutBackup(config).length > 0) {
      console.log(
        [
          '',
          `ledger.key and admin.key are this ledger's identity. Every checkpoint auditors verify is signed with`,
          `ledger.key; if it is lost, no one can ever extend this log again, and a new key is a new log. admin.key`,
          `is the only key that can register stations, approve releases and open batches. Both exist only here, on`,
          `this disk. Copy them offline now, before anything is recorded, and keep the copy away from this machine:`,
          '',
          `  flashtrail keys backup --data ${config.dataDir} --to /path/to/offline/medium`,
        ].join('\n'),
      );
    }
    return 0;
  },
});

export default command;
