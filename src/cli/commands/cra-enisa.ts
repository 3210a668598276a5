/** `flashtrail cra enisa`: the content ENISA's single reporting platform asks for at one Art. 14 stage, to paste or attach. */
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

const STAGES = ['early_warning', 'notification', 'final_report'];

const command = defineCommand({
  usage: ['ID [--stage early_warning|notification|final_report] [--manufacturer NAME] [--json] [--out FILE]'],
  description: [
    'Fills what the ledger knows (product, affected versions and units per customer, the assessment) into the',
    "fields of the stage's form, as text to paste (or JSON), and lists the required fields still to be written.",
    'The platform has no API: this submits nothing. Record the submission afterwards (CraReportSubmitted).',
  ].join('\n'),
  arguments: [{ name: 'ID', help: 'CVE-…, GHSA-… or EUVD-…' }],
  options: {
    stage: { type: 'string', value: 'STAGE', help: 'default early_warning' },
    manufacturer: { type: 'string', value: 'NAME', help: 'the manufacturer as the form names it (default the log origin)' },
    json: { type: 'boolean', help: 'the fields as JSON, with the missing ones listed' },
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const [id] = positionals as [string];
    const stage = values.stage ?? 'early_warning';
    if (!STAGES.includes(stage)) throw new UsageError(`--stage must be one of ${STAGES.join(', ')}, not ${stage}`);
    const text = await getAnswer(ledgerAccess(values), `/v1/cra/vulnerabilities/${encodeURIComponent(id)}/enisa`, { stage, manufacturer: values.manufacturer, format: values.json ? undefined : 'text' });
    writeAnswer(values.json ? pretty(text) : text, values.out);
    return 0;
  },
});

export default command;
