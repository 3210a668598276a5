/** `flashtrail simulate`: a realistic batch through a real ledger, and whether the ledger's report matches it. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { httpUrl, rate, wholeNumber } from '../input.ts';
import type { SimulateOptions } from '../../sim/run-simulation.ts';
import { SIM_STEPS, type SimStep } from '../../sim/simulator.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: [
    '[--units N] [--stations N] [--seed N] [--fail STEP=RATE,…] [--max-retries N] [--max-reworks N]',
    '    [--defect-rate R] [--drift STATION@FROM+MINUTES | --no-drift] [--cycle-seconds S] [--data DIR] [--url URL --own-ids] [--json]',
  ],
  description: [
    'Simulates a production line (transient failures at every step, rework then scrap, defective units, one',
    'station flashing the previous application image for a while) against a real ledger, then prints the',
    "batch's scrap, yield and drift report as the ledger computed it, next to what was injected. Exits 1 when",
    'the two disagree.',
  ].join('\n'),
  options: {
    units: { type: 'string', value: 'N', help: 'units in the batch (default 1000)' },
    stations: { type: 'string', value: 'N', help: 'stations flashing in parallel (default 4)' },
    seed: { type: 'string', value: 'N', help: 'random seed: the same seed, the same batch (default 1)' },
    fail: { type: 'string', value: 'STEP=RATE,…', help: `failure rate per try of a step; steps ${SIM_STEPS.join(', ')}` },
    'max-retries': { type: 'string', value: 'N', help: 'retries of a failed step before rework (default 1)' },
    'max-reworks': { type: 'string', value: 'N', help: 'reworks of a unit before it is scrapped (default 1)' },
    'defect-rate': { type: 'string', value: 'R', help: 'share of defective units, which fail until scrapped (default 0.003)' },
    drift: { type: 'string', value: 'STATION@FROM+MINUTES', help: 'a station flashing the previous image from minute FROM on (default ST-02@30+60)' },
    'no-drift': { type: 'boolean', help: 'no station drifts' },
    'cycle-seconds': { type: 'string', value: 'S', help: 'simulated seconds per unit and station (default 60)' },
    data: { type: 'string', value: 'DIR', help: 'data directory (default: a new temporary directory; with --url, that ledger’s)' },
    url: { type: 'string', value: 'URL', help: 'use the running ledger at URL instead of starting one (needs --own-ids)' },
    'own-ids': { type: 'boolean', help: 'with --url: register its own stations (SIM-<run>-ST-01…), keys, tokens, release and batch there, for good' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run({ values }) {
    const { DEFAULT_FAILURE_RATES, runSimulation } = await import('../../sim/run-simulation.ts');
    const failureRates: Partial<Record<SimStep, number>> = { ...DEFAULT_FAILURE_RATES };
    if (values.fail !== undefined) {
      for (const part of values.fail.split(',')) {
        const [step, value] = part.split('=');
        if (!(SIM_STEPS as readonly string[]).includes(step ?? '') || value === undefined || !(Number(value) >= 0 && Number(value) < 1)) {
          throw new UsageError(`--fail takes STEP=RATE pairs, steps ${SIM_STEPS.join(', ')}, rates from 0 to below 1, not ${part}`);
        }
        failureRates[step as SimStep] = Number(value);
      }
    }
    const stations = wholeNumber(values.stations, '--stations', 4, 1, 99);
    let drift: SimulateOptions['drift'] = stations > 1 ? { station: 'ST-02', fromMinute: 30, minutes: 60 } : null;
    if (values['no-drift'] === true) drift = null;
    else if (values.drift !== undefined) {
      const m = /^([A-Za-z0-9._:-]+)@(\d+)\+(\d+)$/.exec(values.drift);
      if (!m) throw new UsageError(`--drift takes STATION@FROM_MINUTE+MINUTES, e.g. ST-02@30+60, not ${values.drift}`);
      drift = { station: m[1] as string, fromMinute: Number(m[2]), minutes: Number(m[3]) };
    }
    if (values.url !== undefined && values['own-ids'] !== true) {
      throw new UsageError(
        `simulate --url writes to that ledger, which never forgets: it would register ${stations} stations, a key and a token for each (in that ledger's tokens.json), a release and a batch, and flash simulated units into it. Give --own-ids to do so under ids of its own (SIM-<run>-ST-01…, SIM-<run>-fw-3.0.0), or leave out --url to simulate on a ledger of its own`,
      );
    }
    const idPrefix = values.url !== undefined ? `SIM-${Date.now().toString(36).toUpperCase()}-` : '';
    if (idPrefix) console.error(`flashtrail simulate: on ${values.url}, as stations ${idPrefix}ST-01… and release ${idPrefix}fw-3.0.0 (they stay in that ledger)`);
    const result = await runSimulation({
      idPrefix,
      units: wholeNumber(values.units, '--units', 1000, 1, 1_000_000),
      stations,
      seed: wholeNumber(values.seed, '--seed', 1, 0, 2 ** 31),
      failureRates,
      maxRetriesPerStep: wholeNumber(values['max-retries'], '--max-retries', 1, 0, 10),
      maxReworks: wholeNumber(values['max-reworks'], '--max-reworks', 1, 0, 10),
      defectRate: rate(values['defect-rate'], '--defect-rate', 0.003),
      drift,
      cycleSeconds: wholeNumber(values['cycle-seconds'], '--cycle-seconds', 60, 1, 86_400),
      ...(values.data !== undefined ? { dataDir: values.data } : {}),
      ...(values.url !== undefined ? { url: httpUrl(values.url, '--url') } : {}),
      json: values.json === true,
      out: (line) => console.log(line),
      progress: (line) => console.error(line),
    });
    return result.agrees ? 0 : 1;
  },
});

export default command;
