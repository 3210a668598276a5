/** `flashtrail station run`: the station agent, until SIGINT or SIGTERM. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { runUntilSignal } from '../run-until-signal.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json'],
  description: [
    'Reads serial numbers from the scanner, runs the flash tools, reads the device console to verify what it',
    'runs, and signs one event per step. Events go to a local outbox first and are delivered when the ledger',
    'is reachable, so the line keeps working through a ledger outage. See station/station.example.json.',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
  },
  async run({ values }) {
    const { stationRun } = await import('../../../station/main.ts');
    const running = await stationRun(values.config as string, (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`));
    return runUntilSignal(() => running.stop());
  },
});

export default command;
