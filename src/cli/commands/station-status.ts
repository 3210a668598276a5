/** `flashtrail station status`: what the outbox holds. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json'],
  description: 'Lists the events waiting for delivery and those the ledger refused; exits 1 if any were refused.',
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
  },
  async run({ values }) {
    const { stationStatus } = await import('../../../station/main.ts');
    return stationStatus(values.config as string, (line) => console.log(line));
  },
});

export default command;
