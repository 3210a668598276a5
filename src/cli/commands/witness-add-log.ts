/** `flashtrail witness add-log`: one more log for a witness to cosign. */
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--dir DIR VKEY'],
  description: [
    "Adds a log (the ledger's verifier key, as flashtrail init prints it) to witness.json, durably. Takes effect when",
    'the witness next starts. There is no remove: a witness that forgot a log and later witnessed it again would',
    'cosign whatever tree it was shown first, a fork included.',
  ].join('\n'),
  arguments: [{ name: 'VKEY', help: "the log's verifier key: <origin>+<key id>+<base64 Ed25519 key>" }],
  options: {
    dir: { type: 'string', value: 'DIR', required: true, help: 'the witness directory' },
  },
  async run({ values, positionals }) {
    const { addWitnessedLog } = await import('../../witness/directory.ts');
    const key = addWitnessedLog(values.dir as string, positionals[0] as string);
    console.log(JSON.stringify({ dir: values.dir, origin: key.name, keyId: key.id }, null, 2));
    return 0;
  },
});

export default command;
