/** `flashtrail cra tr03183`: the BSI TR-03183-2 report of a release's attached SBOM. */
import { defineCommand } from '../command.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

const command = defineCommand({
  usage: ['RELEASE [--out FILE]'],
  description: "Each field TR-03183-2 v2.1.0 requires of the SBOM and of every component: present or missing.",
  arguments: [{ name: 'RELEASE', help: 'the release id' }],
  options: {
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values, positionals }) {
    const [releaseId] = positionals as [string];
    writeAnswer(pretty(await getAnswer(ledgerAccess(values), `/v1/cra/releases/${encodeURIComponent(releaseId)}/tr03183`)), values.out);
    return 0;
  },
});

export default command;
