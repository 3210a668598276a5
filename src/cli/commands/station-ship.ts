/** `flashtrail station ship`: a unit ships to a customer under an order. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--config station.json --serial S --customer C --order REF [--operator ID]'],
  description: [
    "Signs UnitShipped with the station's key (a packing station's, or the flashing station's own unit) and",
    'delivers it; the ledger accepts it only for a unit whose recipe is complete. Exits 1 when it refuses.',
    'A packing station running `station run` ships every unit scanned (FT:ORDER:<customer>:<ref> sets the order).',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: 'the station configuration (JSON)' },
    serial: { type: 'string', value: 'S', required: true, help: 'the unit' },
    customer: { type: 'string', value: 'C', required: true, help: 'the customer' },
    order: { type: 'string', value: 'REF', required: true, help: 'the order reference' },
    operator: { type: 'string', value: 'ID', help: "who packed it (default: the configuration's operator)" },
  },
  async run({ values }) {
    const { stationLifecycle } = await import('../../../station/main.ts');
    return stationLifecycle(values.config as string, values.serial as string, values.operator, { type: 'UnitShipped', customer: values.customer as string, orderRef: values.order as string }, (line) => console.log(line));
  },
});

export default command;
