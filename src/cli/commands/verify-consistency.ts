/** `flashtrail verify-consistency`: checkpoint NEW extends checkpoint OLD. */
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { httpUrl, readTokenFile } from '../input.ts';
import { verifyConsistencyFiles } from './verify.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['OLD NEW --ledger-key KEY|@FILE [--proof FILE | --url URL [--token-file FILE]] [--policy FILE] [--json]'],
  description: [
    'Checks that both checkpoints are signed by the pinned ledger key and that the log of NEW is the log of',
    'OLD with events appended, nothing changed or removed (an RFC 6962 consistency proof). The proof comes from',
    'a file or, with --url, from the ledger (GET /v1/proofs/consistency); it need not be trusted either way.',
    'Two checkpoints of the same size need no proof: if their roots differ, the ledger signed a fork (a split',
    'view), reported with both signed notes as the evidence. With --policy, NEW must carry its witness quorum.',
  ].join('\n'),
  arguments: [
    { name: 'OLD', help: 'the older checkpoint (a signed note, as GET /v1/checkpoint returns it)' },
    { name: 'NEW', help: 'the newer checkpoint' },
  ],
  options: {
    'ledger-key': { type: 'string', value: 'KEY|@FILE', required: true, help: 'the ledger verifier key, or @file holding it' },
    proof: { type: 'string', value: 'FILE', help: 'the consistency proof as JSON: { "proof": [base64 hashes] }' },
    url: { type: 'string', value: 'URL', help: 'fetch the proof from the ledger at URL' },
    'token-file': { type: 'string', value: 'FILE', help: 'bearer token for --url (default FLASHTRAIL_TOKEN)' },
    policy: { type: 'string', value: 'FILE', help: 'a witness policy (C2SP tlog-policy): NEW must be cosigned by its quorum' },
    json: { type: 'boolean', help: 'print the report, or the failure, as JSON' },
  },
  environment: ['FLASHTRAIL_TOKEN'],
  run({ values, positionals }) {
    const [oldFile, newFile] = positionals as [string, string];
    if (values.proof !== undefined && values.url !== undefined) throw new UsageError('give the consistency proof with --proof FILE, or --url URL to fetch it (not both)');
    const token = values['token-file'] !== undefined ? readTokenFile(values['token-file']) : process.env['FLASHTRAIL_TOKEN'];
    if (values.url !== undefined && !token) throw new UsageError('--url needs a token: --token-file FILE or FLASHTRAIL_TOKEN');
    return verifyConsistencyFiles(oldFile, newFile, values['ledger-key'] as string, {
      ...(values.proof !== undefined ? { proofFile: values.proof } : {}),
      ...(values.url !== undefined ? { url: httpUrl(values.url, '--url') } : {}),
      ...(token ? { token } : {}),
      ...(values.policy !== undefined ? { policyFile: values.policy } : {}),
    }, { out: (l) => console.log(l), json: values.json === true });
  },
});

export default command;
