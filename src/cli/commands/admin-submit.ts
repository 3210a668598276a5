/** `flashtrail admin submit`: sign an administrative event here, with the administrator's key, and append it. */
import { join } from 'node:path';
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { CliError, UsageError } from '../errors.ts';
import { readJsonFile, readTokenFile } from '../input.ts';
import { resolveLedgerUrl } from '../ledger-url.ts';
import { placeholderDigest, schemaIssuesLine } from '../event-data.ts';
import { configFromEnv, ledgerUrl } from '../../server/config.ts';
import { ADMIN_EVENT_TYPES, parseEventData, type AdminEvent, type AdminEventType } from '../../../schemas/index.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['TYPE DATA.json|- [--key FILE] [--url URL] [--token-file FILE] [--data DIR]'],
  description: [
    `TYPE is one of ${ADMIN_EVENT_TYPES.join(', ')}.`,
    "The event's data is checked against its schema, chained to the head of its stream (fetched from the",
    'ledger), signed with the administrator key and appended; prints what the ledger recorded.',
  ].join('\n'),
  arguments: [
    { name: 'TYPE', help: 'the event type' },
    { name: 'DATA.json', help: "the event's data member as JSON, or - to read it from stdin" },
  ],
  options: {
    key: { type: 'string', value: 'FILE', help: 'administrator signing key (default <data>/admin.key)' },
    url: { type: 'string', value: 'URL', help: 'the ledger (default FLASHTRAIL_URL, else what serve wrote to <data>/ledger.url, else http://FLASHTRAIL_HOST:FLASHTRAIL_PORT)' },
    'token-file': { type: 'string', value: 'FILE', help: 'admin bearer token (default <data>/admin.token)' },
    data: { type: 'string', value: 'DIR', help: 'data directory holding the defaults above (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_URL', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT'],
  async run({ values, positionals }) {
    const [type, source] = positionals as [string, string];
    if (!(ADMIN_EVENT_TYPES as string[]).includes(type)) throw new UsageError(`TYPE must be one of ${ADMIN_EVENT_TYPES.join(', ')}, not ${type}`);
    // Any schema version of the type is accepted (the newest it fits is signed); errors are those of the newest.
    const input = readJsonFile(source, `the ${type} data`);
    const parsed = parseEventData(type as AdminEventType, input);
    if (!parsed.ok) {
      throw new CliError(`${source === '-' ? 'stdin' : source} is not valid ${type} data: ${schemaIssuesLine(parsed.issues, input)}`);
    }
    const data = parsed.data as AdminEvent['data'];
    // Signed into an append-only ledger, a placeholder digest could never be corrected: refuse it here.
    const placeholder = placeholderDigest(data);
    if (placeholder) throw new CliError(`${source === '-' ? 'stdin' : source} is not valid ${type} data: SCHEMA_INVALID: ${placeholder}: a digest of one repeated digit (all zeros) is a placeholder, not the digest of anything; put the real one`);
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const [{ readSecretKeyFile }, { EventSigner }, { LedgerClient }, { streamOf }] = await Promise.all([
      import('../../files/key-file.ts'),
      import('../../event/signer.ts'),
      import('../../client/ledger-client.ts'),
      import('../../event/streams.ts'),
    ]);
    const signer = new EventSigner(readSecretKeyFile(values.key ?? join(config.dataDir, 'admin.key')), 'admin');
    const token = readTokenFile(values['token-file'] ?? join(config.dataDir, 'admin.token'));
    const client = new LedgerClient(resolveLedgerUrl(values.url, config.dataDir, ledgerUrl(config)), token);
    const stream = streamOf({ type, data } as AdminEvent);
    const head = await client.get<{ digest: string | null }>(`/v1/streams/${encodeURIComponent(stream)}/head`);
    const signed = signer.sign(type as AdminEvent['type'], data as never, { prev: head.digest });
    const [result] = await client.appendAdmin([signed.envelope]);
    console.log(JSON.stringify(result, null, 2));
    return 0;
  },
});

export default command;
