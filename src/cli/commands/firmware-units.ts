/** `flashtrail firmware-units`: the units carrying a firmware digest now and formerly, proved complete (docs/format.md §15.6). */
import { readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, writeAnswer } from '../ledger-access.ts';
import { readKey } from './verify.ts';
import { firmwareEvidenceDetail, verifyFirmwareEvidence } from '../../verify/firmware-map.ts';
import { VerificationError } from '../../verify/errors.ts';
import { nativeCrypto } from '../../native/crypto.ts';

const command = defineCommand({
  usage: ['SHA256 --ledger-key KEY|@FILE --map-key KEY|@FILE [--url URL --token-file FILE | --answer FILE] [--size N] [--out FILE]'],
  description: [
    'Asks the ledger (GET /v1/unit-map/firmware/SHA256), or reads a saved answer (--answer), and verifies it:',
    'the ledger checkpoint under the pinned ledger key, the v2 map commitment under the pinned index log key,',
    'the digest value (or its absence) and both serial lists. Prints "complete as of checkpoint N" and the',
    'serials, or FIRMWARE_UNITS_INCOMPLETE saying what differs; exits 1 on any failure.',
  ].join('\n'),
  arguments: [{ name: 'SHA256', help: 'the firmware image digest, 64 lowercase hex digits' }],
  options: {
    'ledger-key': { type: 'string', value: 'KEY|@FILE', required: true, help: 'the ledger verifier key, or @file holding it' },
    'map-key': { type: 'string', value: 'KEY|@FILE', required: true, help: "the index log's verifier key (GET /v1/unit-map/key), or @file" },
    answer: { type: 'string', value: 'FILE', help: 'verify this saved answer instead of asking the ledger' },
    size: { type: 'string', value: 'N', help: 'the ledger checkpoint size to ask about (default: the newest committed one)' },
    out: { type: 'string', value: 'FILE', help: 'also save the answer fetched (durably), to verify later with --answer' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const sha256 = positionals[0] as string;
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new UsageError(`SHA256 is 64 lowercase hex digits, not ${sha256.slice(0, 70)}`);
    if (values.size !== undefined && !/^(0|[1-9][0-9]{0,15})$/.test(values.size)) throw new UsageError(`--size is a tree size, not ${values.size}`);
    const text = values.answer !== undefined ? readFileSync(values.answer, 'utf8') : await getAnswer(ledgerAccess(values), `/v1/unit-map/firmware/${sha256}`, { size: values.size });
    if (values.answer === undefined && values.out !== undefined) writeAnswer(text, values.out);
    try {
      const ledgerKey = readKey(values['ledger-key'] as string);
      const mapKey = readKey(values['map-key'] as string, '--map-key', 'the index log key file', 'an index log verifier key');
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new VerificationError('FORMAT_ERROR', 'firmware', 'the answer is not JSON');
      }
      if ((answer as { sha256?: unknown }).sha256 !== sha256) throw new VerificationError('FORMAT_ERROR', 'firmware', `the answer is about ${String((answer as { sha256?: unknown }).sha256).slice(0, 64)}, not ${sha256}`, { field: 'sha256' });
      process.stdout.write(`ok  ${firmwareEvidenceDetail(verifyFirmwareEvidence(answer, ledgerKey, mapKey, nativeCrypto))}\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      process.stderr.write(`FAILED ${error.code}: ${error.message}\n`);
      return 1;
    }
  },
});

export default command;
