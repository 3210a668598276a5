/** `flashtrail station init`: a station's signing key, and what an administrator registers for it. */
import { defineCommand } from '../command.ts';
import { stationInit } from '../../../station/main.ts';

export default defineCommand({
  usage: ['--id ID --key FILE [--line L]'],
  description: 'Creates the key file (mode 0600, never overwritten) and prints the two admin submit commands that register the station and its key.',
  options: {
    id: { type: 'string', value: 'ID', required: true, help: 'the station id, e.g. ST-01' },
    key: { type: 'string', value: 'FILE', required: true, help: 'the key file to create' },
    line: { type: 'string', value: 'L', help: 'the production line it stands on (default L1)' },
  },
  run({ values }) {
    stationInit(values.id as string, values.key as string, values.line ?? 'L1', (line) => console.log(line));
    return 0;
  },
});
