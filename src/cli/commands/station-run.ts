/** `flashtrail station run`: the station agent, until SIGINT or SIGTERM. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { runUntilSignal } from '../run-until-signal.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json'],
  description: [
    "Reads serial numbers (and FT: operator commands) from the scanner, takes each unit through its batch's",
    'recipe with the vendor tools, and signs one event per step with what the device reported and the SHA-256',
    "of each tool's output (kept in the data directory's evidence/). Burns and the lock run only after the",
    'ledger accepted them. Events go to a local outbox first and are delivered when the ledger is reachable.',
    'Everything the run needs is checked at start. Examples: station/examples/.',
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
