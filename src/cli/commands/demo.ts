/** `flashtrail demo`: the quick start. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { wholeNumber } from '../input.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['[--units N] [--batch-units N] [--data DIR]'],
  description: [
    'Starts a real ledger on the embedded store, registers a station, approves a release and opens a batch',
    'with signed administrator events, flashes simulated units through the HTTP API, shows a refused',
    "out-of-order step, prints every unit's state, verifies one unit's provenance offline, then runs the line",
    'simulator for a realistic batch.',
  ].join('\n'),
  options: {
    units: { type: 'string', value: 'N', help: 'units flashed one by one (default 12)' },
    'batch-units': { type: 'string', value: 'N', help: 'units of the simulated batch at the end, 0 to leave it out (default 400)' },
    data: { type: 'string', value: 'DIR', help: 'data directory of the ledger (default: a new temporary directory)' },
  },
  async run({ values }) {
    const { runDemo } = await import('../../sim/demo.ts');
    await runDemo({
      units: wholeNumber(values.units, '--units', 12, 1, 10_000),
      batchUnits: wholeNumber(values['batch-units'], '--batch-units', 400, 0, 100_000),
      ...(values.data !== undefined ? { dataDir: values.data } : {}),
    });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  },
});

export default command;
