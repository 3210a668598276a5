/** `flashtrail keys generate`: a new Ed25519 key file. */
import { defineCommand } from '../command.ts';
import { writeSecretKeyFile } from '../../files/key-file.ts';
import { newSigner } from '../../crypto/ed25519.ts';
import { toHex } from '../../crypto/encoding.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--out FILE [--comment C]'],
  description: 'Writes the key file with mode 0600 and never overwrites one; prints only the public half, as JSON.',
  options: {
    out: { type: 'string', value: 'FILE', required: true, help: 'the key file to create' },
    comment: { type: 'string', value: 'C', help: 'a comment stored in the key file' },
  },
  run({ values }) {
    const out = values.out as string;
    const signer = newSigner();
    writeSecretKeyFile(out, signer, values.comment);
    console.log(JSON.stringify({ keyFile: out, keyId: signer.keyId, publicKey: toHex(signer.publicKey), algorithm: 'ed25519' }, null, 2));
    return 0;
  },
});

export default command;
