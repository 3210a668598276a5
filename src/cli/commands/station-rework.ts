/** `flashtrail station rework`: a unit was reworked; its next pass starts with a new scan. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json --serial S --reason TEXT [--operator ID]'],
  description: [
    "Signs UnitReworked with the station's key, chained to what the ledger holds of the unit, and delivers it",
    '(it waits in the outbox if the ledger is away). Only before the lock; exits 1 when the ledger refuses.',
    'At the line the same is a barcode: FT:REWORK:<serial>.',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
    serial: { type: 'string', value: 'S', required: true, help: 'the unit' },
    reason: { type: 'string', value: 'TEXT', required: true, help: 'what was done, e.g. "reseated the programming clip"' },
    operator: { type: 'string', value: 'ID', help: "who did it (default: the configuration's operator)" },
  },
  async run({ values }) {
    const { stationLifecycle } = await import('../../../station/main.ts');
    return stationLifecycle(values.config as string, values.serial as string, values.operator, { type: 'UnitReworked', reason: values.reason as string }, (line) => console.log(line));
  },
});

export default command;
