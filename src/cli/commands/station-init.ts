/** `flashtrail station init`: a station's signing key, and what an administrator registers for it. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--id ID --key FILE [--line L]'],
  description: 'Creates the key file (mode 0600, never overwritten) and prints the two admin submit commands that register the station and its key.',
  options: {
    id: { type: 'string', value: 'ID', required: true, help: 'the station id, e.g. ST-01' },
    key: { type: 'string', value: 'FILE', required: true, help: 'the key file to create' },
    line: { type: 'string', value: 'L', help: 'the production line it stands on (default L1)' },
  },
  async run({ values }) {
    const { stationInit } = await import('../../../station/main.ts');
    stationInit(values.id as string, values.key as string, values.line ?? 'L1', (line) => console.log(line));
    return 0;
  },
});

export default command;
