/** `flashtrail cra notify`: the notification list of a vulnerability, per customer: CSV, JSON, or signed by the ledger. */
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

const command = defineCommand({
  usage: ['ID [--view now|shipped] [--status S,…] [--format json|csv|ndjson|dsse] [--out FILE]'],
  description: [
    'The units the current assessments of the vulnerability name (default statuses affected and',
    'under_investigation), grouped by customer: counts, serials, ship dates, current firmware, support end.',
    'The input to informing the users (CRA Art. 14(8)). --format dsse gives it signed by the ledger key',
    '(a DSSE envelope, payload type application/vnd.flashtrail.notification-list.v1+json); csv and ndjson are',
    'streamed, one unit a line. Each list produced is recorded in the log (NotificationListProduced: who asked,',
    'the query, the SHA-256 of what was served, as of which checkpoint); `cra clock` lists them.',
  ].join('\n'),
  arguments: [{ name: 'ID', help: 'CVE-…, GHSA-… or EUVD-…' }],
  options: {
    view: { type: 'string', value: 'now|shipped', help: 'the firmware units carry today (default), or as they shipped' },
    status: { type: 'string', value: 'S,…', help: 'affected, under_investigation, fixed, not_affected' },
    format: { type: 'string', value: 'json|csv|ndjson|dsse', help: 'default json' },
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const [id] = positionals as [string];
    const format = values.format ?? 'json';
    if (!['json', 'csv', 'ndjson', 'dsse'].includes(format)) throw new UsageError(`--format must be json, csv, ndjson or dsse, not ${format}`);
    const text = await getAnswer(ledgerAccess(values), `/v1/cra/vulnerabilities/${encodeURIComponent(id)}/notification-list`, { view: values.view, status: values.status, format });
    writeAnswer(format === 'csv' || format === 'ndjson' ? text : pretty(text), values.out);
    return 0;
  },
});

export default command;
