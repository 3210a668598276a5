/** `flashtrail backup verify DIR`: the backup is the ledger it claims to be, file by file and leaf by leaf. */
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['DIR [--json]'],
  description: [
    'Checks a backup made by `flashtrail backup` without changing a byte of it: every file against the SHA-256',
    'in its manifest (and no file added), the newest checkpoint in the copied event store against the manifest',
    'and the ledger key in the backup, the RFC 6962 root recomputed from the copied events against that signed',
    'checkpoint, and every leaf of the copied Merkle log against the event at its position. The first failure',
    'is one line with a stable code (BACKUP_FILE_DIGEST_MISMATCH, BACKUP_ROOT_MISMATCH, BACKUP_LEAF_MISMATCH, …)',
    'naming the file or the leaf; exit 1.',
  ].join('\n'),
  arguments: [{ name: 'DIR', help: 'the backup directory' }],
  options: {
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  async run({ values, positionals }) {
    const { verifyLedgerBackup } = await import('../../server/ledger-backup.ts');
    const v = await verifyLedgerBackup(positionals[0] as string, (line) => process.stderr.write(`flashtrail: ${line}\n`));
    if (values.json === true) {
      console.log(JSON.stringify({ ok: true, origin: v.manifest.origin, ledgerKeyId: v.manifest.ledgerKeyId, files: v.filesChecked, events: v.eventsHashed, checkpoint: v.manifest.checkpoint && { size: v.manifest.checkpoint.size, root: v.manifest.checkpoint.root }, merkleLeavesCompared: v.merkleLeavesCompared }));
      return 0;
    }
    console.log(`backup verified: ${v.filesChecked} files, ${v.eventsHashed} events, ledger ${v.manifest.origin} (key ${v.manifest.ledgerKeyId})`);
    console.log(v.manifest.checkpoint ? `root at signed checkpoint size ${v.manifest.checkpoint.size}: ${v.manifest.checkpoint.root} (recomputed; ${v.merkleLeavesCompared} Merkle log leaves compared)` : 'no checkpoint signed yet: nothing signed to compare the events with');
    return 0;
  },
});

export default command;
