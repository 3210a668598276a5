/** `flashtrail witness serve`: a C2SP tlog-witness over HTTP, until SIGINT or SIGTERM. */
import { defineCommand } from '../command.ts';
import { wholeNumber } from '../input.ts';
import { runUntilSignal } from '../run-until-signal.ts';
import { UsageError } from '../errors.ts';
import { LOG_LEVELS } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--dir DIR [--host H] [--port P]'],
  description: [
    'Serves POST /add-checkpoint (C2SP tlog-witness): cosigns a checkpoint of a log in witness.json when it is',
    'signed by that log and consistent with the last checkpoint cosigned for it, which is persisted (durably) before',
    'the answer; refuses older, forked or unproven ones with the spec status codes (409 with the size to retry',
    'from, 422 for a failed consistency proof or a different tree of the same size). GET /<hex SHA-256(origin)>/checkpoint',
    'serves the latest cosigned checkpoint. Logs one JSON line per decision.',
  ].join('\n'),
  options: {
    dir: { type: 'string', value: 'DIR', required: true, help: 'the witness directory (flashtrail witness init)' },
    host: { type: 'string', value: 'H', help: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', value: 'P', help: 'port to listen on, 0 for any free one (default 8081)' },
  },
  environment: ['FLASHTRAIL_LOG_LEVEL'],
  async run({ values }) {
    const port = values.port !== undefined ? wholeNumber(values.port, '--port', 8081, 0, 65_535) : 8081;
    const { pino } = await import('pino');
    const { startWitnessServer } = await import('../../witness/server.ts');
    const level = process.env['FLASHTRAIL_LOG_LEVEL'] ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`FLASHTRAIL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${level}`);
    const running = await startWitnessServer(values.dir as string, { host: values.host ?? '127.0.0.1', port }, { logger: pino({ level }) });
    return runUntilSignal(() => running.close());
  },
});

export default command;
