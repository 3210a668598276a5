/** `flashtrail cra vex`: the current assessments as a CSAF 2.0, OpenVEX 0.2.0 or CycloneDX VEX document signed by the ledger. */
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

const command = defineCommand({
  usage: ['[--format csaf|openvex|cyclonedx] [--publisher NAME] [--namespace URL] [--document-id ID] [--out FILE]'],
  description: [
    "Every vulnerability's current assessment per release, rendered in the format asked for, checked against",
    "its official JSON schema by the ledger, and signed with the ledger key: a DSSE envelope whose payload is",
    'the document (RFC 8785 canonical JSON; payload type application/csaf+json, application/openvex+json or',
    'application/vnd.cyclonedx+json).',
  ].join('\n'),
  options: {
    format: { type: 'string', value: 'csaf|openvex|cyclonedx', help: 'default csaf' },
    publisher: { type: 'string', value: 'NAME', help: 'the manufacturer, as publisher (default the log origin)' },
    namespace: { type: 'string', value: 'URL', help: "the publisher's namespace URL (CSAF requires one)" },
    'document-id': { type: 'string', value: 'ID', help: 'the tracking id of the document' },
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values }) {
    const format = values.format ?? 'csaf';
    if (!['csaf', 'openvex', 'cyclonedx'].includes(format)) throw new UsageError(`--format must be csaf, openvex or cyclonedx, not ${format}`);
    const text = await getAnswer(ledgerAccess(values), '/v1/cra/vex', { format, publisher: values.publisher, namespace: values.namespace, documentId: values['document-id'] });
    writeAnswer(pretty(text), values.out);
    return 0;
  },
});

export default command;
