/** `flashtrail station requeue`: put events the ledger refused back in the queue, after fixing the cause. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json [--serial S]'],
  description: [
    'The events stay validly signed and their chains intact, so once the cause is fixed (a batch reopened, a',
    'station key registered) they can be delivered in their original order. Delivers now; exits 1 when some',
    'are refused again (`station status` lists them).',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
    serial: { type: 'string', value: 'S', help: "only this unit's events" },
  },
  async run({ values }) {
    const { stationRequeue } = await import('../../../station/main.ts');
    return stationRequeue(values.config as string, values.serial, (line) => console.log(line));
  },
});

export default command;
