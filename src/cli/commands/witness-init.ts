/** `flashtrail witness init`: a witness directory, its Ed25519 cosigning key (0600) and the logs it witnesses. */
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--dir DIR --name NAME [--log VKEY]...'],
  description: [
    'Creates DIR (mode 0700) with a new Ed25519 key (witness-key.json, mode 0600) and witness.json, and prints the',
    "witness's verifier key (<name>+<key id>+<base64(0x04 || key)>, C2SP tlog-cosignature/v1): give it to the log",
    'operator and to every verifier that should count this witness in its policy. Each --log is the verifier key',
    'a ledger printed at init (its origin is the key name). Refuses a directory that is a witness already.',
  ].join('\n'),
  options: {
    dir: { type: 'string', value: 'DIR', required: true, help: 'the witness directory to create' },
    name: { type: 'string', value: 'NAME', required: true, help: 'the witness name, e.g. witness.notified-body.example/w1' },
    log: { type: 'string', value: 'VKEY', multiple: true, help: "a log to witness: the ledger's verifier key" },
  },
  async run({ values }) {
    const { initWitnessDirectory } = await import('../../witness/directory.ts');
    const identity = initWitnessDirectory(values.dir as string, values.name as string, values.log ?? []);
    console.log(JSON.stringify({ dir: values.dir, name: identity.name, verifierKey: identity.verifierKey, logs: values.log ?? [] }, null, 2));
    return 0;
  },
});

export default command;
