/** `flashtrail station status`: what the outbox holds. */
import { defineCommand } from '../command.ts';
import { stationStatus } from '../../../station/main.ts';

export default defineCommand({
  usage: ['--config station.json'],
  description: 'Lists the events waiting for delivery and those the ledger refused; exits 1 if any were refused.',
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
  },
  run({ values }) {
    return stationStatus(values.config as string, (line) => console.log(line));
  },
});
