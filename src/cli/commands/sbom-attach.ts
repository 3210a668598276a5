/** `flashtrail sbom attach`: check a release's SBOM here, upload it to the ledger, and sign its SbomAttached. */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { CliError, describeExpectedFailure, UsageError } from '../errors.ts';
import { LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess } from '../ledger-access.ts';

const command = defineCommand({
  usage: ['RELEASE SBOM-FILE [--key FILE] [--url URL] [--token-file FILE] [--data DIR]'],
  description: [
    'Reads the SBOM (CycloneDX 1.6 or 1.7 JSON, SPDX 3.0.1 JSON-LD, SPDX 2.2/2.3 JSON or tag-value as',
    "esp-idf-sbom writes it), validates it against its format's official schema, uploads it (the ledger",
    'validates it again and keeps it as sboms/<sha256>), then signs an SbomAttached event with the',
    "administrator key listing its components. The ledger accepts it only if the SBOM's SHA-256 is the",
    "sbomSha256 of the release's ReleaseApproved.",
  ].join('\n'),
  arguments: [
    { name: 'RELEASE', help: 'the approved release id' },
    { name: 'SBOM-FILE', help: 'the SBOM file, byte for byte as its sbomSha256 was computed' },
  ],
  options: {
    key: { type: 'string', value: 'FILE', help: 'administrator signing key (default <data>/admin.key)' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const [releaseId, file] = positionals as [string, string];
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(releaseId)) throw new UsageError(`RELEASE must be a release id (letters, digits and . _ : -), not ${releaseId}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(file));
    } catch (error) {
      const reason = describeExpectedFailure(error);
      if (reason === null) throw error;
      throw new CliError(`cannot read the SBOM: ${reason}`);
    }
    const [{ ingestSbom }, { sbomAttachment }, { CraError }, { readSecretKeyFile }, { EventSigner }, { LedgerClient }, { releaseStream }, { toBase64 }] = await Promise.all([
      import('../../cra/sbom.ts'),
      import('../../cra/index-entries.ts'),
      import('../../cra/errors.ts'),
      import('../../files/key-file.ts'),
      import('../../event/signer.ts'),
      import('../../client/ledger-client.ts'),
      import('../../event/streams.ts'),
      import('../../crypto/encoding.ts'),
    ]);
    let data;
    try {
      const ingested = ingestSbom(bytes);
      data = sbomAttachment(releaseId, ingested, bytes.length);
    } catch (error) {
      if (error instanceof CraError) throw new CliError(`${file}: ${error.message} [${error.code}]`);
      throw error;
    }
    const access = ledgerAccess(values);
    const client = new LedgerClient(access.url, access.token);
    const upload = await client.request<{ sha256: string; stored: string }>('POST', '/v1/cra/sboms', { sbom: toBase64(bytes) });
    const signer = new EventSigner(readSecretKeyFile(values.key ?? join(access.dataDir, 'admin.key')), 'admin');
    const head = await client.get<{ digest: string | null }>(`/v1/streams/${encodeURIComponent(releaseStream(releaseId))}/head`);
    const signed = signer.sign('SbomAttached', data, { prev: head.digest });
    const [result] = await client.appendAdmin([signed.envelope]);
    console.log(JSON.stringify({ releaseId, sha256: upload.sha256, format: `${data.format} ${data.specVersion} (${data.encoding})`, components: data.components.length, sbom: upload.stored, event: result }, null, 2));
    return 0;
  },
});

export default command;
