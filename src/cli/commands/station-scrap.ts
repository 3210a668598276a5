/** `flashtrail station scrap`: a unit is scrapped, with a reason. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json --serial S --reason TEXT [--failed-step STEP] [--operator ID]'],
  description: [
    "Signs UnitScrapped with the station's key and delivers it; scrapped is final. Exits 1 when the ledger",
    'refuses. At the line the same is a barcode: FT:SCRAP:<serial>:<reason>.',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
    serial: { type: 'string', value: 'S', required: true, help: 'the unit' },
    reason: { type: 'string', value: 'TEXT', required: true, help: 'why, e.g. "cracked module can"' },
    'failed-step': { type: 'string', value: 'STEP', help: 'the recipe step it failed at' },
    operator: { type: 'string', value: 'ID', help: "who decided (default: the configuration's operator)" },
  },
  async run({ values }) {
    const { stationLifecycle } = await import('../../../station/main.ts');
    const failedStep = values['failed-step'];
    return stationLifecycle(values.config as string, values.serial as string, values.operator, { type: 'UnitScrapped', reason: values.reason as string, ...(failedStep !== undefined ? { failedStep } : {}) }, (line) => console.log(line));
  },
});

export default command;
