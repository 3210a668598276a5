/** `flashtrail cra clock`: the Art. 14 clock of every vulnerability the manufacturer is aware of, and what is overdue. */
import { defineCommand } from '../command.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

interface Stage { stage: string; article: string; deadline?: string; submittedAt?: string; state: string }
interface ListRecord { producedAt: string; format: string; listSha256: string; units: number; customers: number; requestedBy: { role: string; name: string }; asOf: { size: number } | null; query: { view: string; statuses: string[] } }

const command = defineCommand({
  usage: ['[ID] [--json] [--out FILE]'],
  description: [
    'For each vulnerability with a recorded awareness (or only ID): the early warning (24 h), notification',
    '(72 h) and final report (14 days after a fix is available; one month after the notification for a severe',
    'incident) with their deadlines, when each was submitted, and which are overdue; then each notification',
    'list the ledger produced (recorded as a NotificationListProduced event): when, for whom, its SHA-256.',
  ].join('\n'),
  arguments: [{ name: 'ID', help: 'one vulnerability (CVE-…, GHSA-…, EUVD-…)', optional: true }],
  options: {
    json: { type: 'boolean', help: 'the JSON answer instead of the table' },
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const [id] = positionals as [string | undefined];
    const answer = JSON.parse(await getAnswer(ledgerAccess(values), '/v1/cra/deadlines')) as { now: string; vulnerabilities: { vulnerabilityId: string; awareAt: string; stages: Stage[]; overdue: string[]; notificationLists?: ListRecord[] }[] };
    const list = answer.vulnerabilities.filter((v) => id === undefined || v.vulnerabilityId === id);
    if (values.json) {
      writeAnswer(pretty(JSON.stringify({ now: answer.now, vulnerabilities: list })), values.out);
      return 0;
    }
    const lines = [`now ${answer.now}`];
    for (const v of list) {
      lines.push('', `${v.vulnerabilityId}  aware since ${v.awareAt}${v.overdue.length > 0 ? `  OVERDUE: ${v.overdue.join(', ')}` : ''}`);
      for (const s of v.stages) lines.push(`  ${s.stage.padEnd(14)} ${s.article.padEnd(14)} deadline ${(s.deadline ?? '(not started)').padEnd(24)} ${s.state.toUpperCase().padEnd(11)} ${s.submittedAt ? `submitted ${s.submittedAt}` : ''}`.trimEnd());
      for (const l of v.notificationLists ?? []) {
        lines.push(`  notification list produced ${l.producedAt} for ${l.requestedBy.name} (${l.requestedBy.role}): ${l.units} units, ${l.customers} customers, ${l.query.view}, ${l.format} sha256 ${l.listSha256}${l.asOf ? `, as of checkpoint ${l.asOf.size}` : ''}`);
      }
    }
    if (list.length === 0) lines.push(id ? `${id}: no awareness recorded` : 'no awareness recorded for any vulnerability');
    writeAnswer(lines.join('\n') + '\n', values.out);
    return 0;
  },
});

export default command;
