/** `flashtrail keys rotate [--ml-dsa]`: a new Ed25519 (or ML-DSA-44) ledger key, announced at the next start under the old one. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { configFromEnv } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--ml-dsa] [--data DIR]'],
  description: [
    "Replaces the ledger's Ed25519 key (ledger.key, mode 0600) with a new one and keeps the old one as",
    'ledger.key.<key id>. Run it with the ledger stopped: the running ledger is the only writer of its key',
    'files (the data directory lock refuses the command otherwise). At the next start the ledger appends a',
    'LedgerKeyRotated record signed with the old key, naming the new one, and signs every later checkpoint',
    'with the new key; the origin stays. Verifiers pinned to the old key follow that signed chain; pin the',
    'printed verifier key from now on. Back the new key up (keys backup) before you start the ledger.',
    '',
    "With --ml-dsa, replaces the ledger's ML-DSA-44 key (ledger-ml-dsa.key) instead, keeping the old one as",
    'ledger-ml-dsa.key.<key id>. At the next start the old ML-DSA-44 key signs the new one in a LedgerKeyRotated',
    'record (version 2, signed in its envelope by the Ed25519 ledger key); the following checkpoints\' ML-DSA-44',
    'line and statements are the new key\'s. Verifiers pinned to the old ML-DSA-44 key follow that link; pin',
    'the printed ML-DSA-44 verifier key (GET /v1/ledger/pq-key) from now on.',
  ].join('\n'),
  options: {
    data: { type: 'string', value: 'DIR', help: 'data directory (default FLASHTRAIL_DATA_DIR or ./data)' },
    'ml-dsa': { type: 'boolean', help: "replace the ML-DSA-44 key (ledger-ml-dsa.key), not the Ed25519 one" },
  },
  environment: ['FLASHTRAIL_DATA_DIR'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { rotateLedgerKey, rotateMlDsaKey } = await import('../../server/ledger-key-rotation.ts');
    const mlDsa = values['ml-dsa'] === true;
    const rotation = mlDsa ? rotateMlDsaKey(config.dataDir) : rotateLedgerKey(config.dataDir);
    console.log(JSON.stringify({ algorithm: mlDsa ? 'ml-dsa-44' : 'ed25519', ...rotation, announcedAt: 'the next start of the ledger' }, null, 2));
    return 0;
  },
});

export default command;
