/** `flashtrail restore DIR --data NEW`: a new data directory from a verified backup. */
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['DIR --data NEW'],
  description: [
    'Verifies the backup in DIR as `flashtrail backup verify` does, then copies it into the data directory NEW',
    '(which must not exist or be empty; created 0700, files 0600), each file written durably and read back',
    'against the manifest. Start the ledger on NEW with `flashtrail serve --data NEW`: it checks the event store',
    'against the Merkle log and the newest signed checkpoint before it serves, and catches up the read model.',
  ].join('\n'),
  arguments: [{ name: 'DIR', help: 'the backup directory' }],
  options: {
    data: { type: 'string', value: 'NEW', required: true, help: 'the new data directory' },
  },
  async run({ values, positionals }) {
    const { restoreLedger } = await import('../../server/ledger-backup.ts');
    const r = await restoreLedger(positionals[0] as string, values.data as string, (line) => process.stderr.write(`flashtrail: ${line}\n`));
    const m = r.verification.manifest;
    console.log(`restored ledger ${m.origin} (key ${m.ledgerKeyId}): ${m.events.count} events into ${r.dataDir}`);
    console.log(`start it with: flashtrail serve --data ${r.dataDir}`);
    return 0;
  },
});

export default command;
