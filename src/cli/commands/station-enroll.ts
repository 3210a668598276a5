/** `flashtrail station enroll`: key, token, registration and a station.json, in one step. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { resolveLedgerUrl } from '../ledger-url.ts';
import { configFromEnv, ledgerUrl } from '../../server/config.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--id ID --line L --batch B --dir DIR [--role flash|repair|pack] [--site S] [--port DEV] [--scanner DEV] [--images DIR] [--fixture ID] [--url URL] [--data DIR]'],
  description: [
    "Run by an administrator where the ledger's data directory is. Creates the station key (0600), adds a",
    "station token to the ledger's tokens.json, registers the station (with its role) and its key with the",
    "admin key, and writes DIR/station.json for the batch's release: the tool runs of every recipe step and the",
    "image, secret and template files they need. `station run` then checks each of those files first.",
  ].join('\n'),
  options: {
    id: { type: 'string', value: 'ID', required: true, help: 'the station id, e.g. ST-03' },
    line: { type: 'string', value: 'L', required: true, help: 'the production line it stands on (the batch must run there)' },
    batch: { type: 'string', value: 'B', required: true, help: 'the batch it will run' },
    dir: { type: 'string', value: 'DIR', required: true, help: "where the station's key, token and station.json go" },
    role: { type: 'string', value: 'ROLE', help: 'flash (default: scans and runs the recipe), repair (reworks, scraps) or pack (ships)' },
    site: { type: 'string', value: 'S', help: 'the site (default Plant 1)' },
    port: { type: 'string', value: 'DEV', help: "the device's serial port (default /dev/ttyUSB0)" },
    scanner: { type: 'string', value: 'DEV', help: "the barcode scanner's serial port (default /dev/ttyACM0)" },
    images: { type: 'string', value: 'DIR', help: "where the release's image files will be (default DIR/fw)" },
    fixture: { type: 'string', value: 'ID', help: 'the fixture or jig at the station' },
    url: { type: 'string', value: 'URL', help: 'the ledger (default FLASHTRAIL_URL, else what serve wrote to <data>/ledger.url, else http://FLASHTRAIL_HOST:FLASHTRAIL_PORT)' },
    data: { type: 'string', value: 'DIR', help: "the ledger's data directory (admin.key, admin.token, tokens.json; default FLASHTRAIL_DATA_DIR or ./data)" },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_TOKENS_FILE', 'FLASHTRAIL_URL', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT'],
  async run({ values }) {
    const role = values.role ?? 'flash';
    if (role !== 'flash' && role !== 'repair' && role !== 'pack') throw new UsageError(`--role must be flash, repair or pack, not ${role}`);
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const { enrollStation } = await import('../../../station/enroll.ts');
    await enrollStation(
      {
        stationId: values.id as string,
        line: values.line as string,
        site: values.site ?? 'Plant 1',
        role,
        batchId: values.batch as string,
        ledgerUrl: resolveLedgerUrl(values.url, config.dataDir, ledgerUrl(config)),
        ledgerData: config.dataDir,
        tokensFile: config.tokensFile ?? join(config.dataDir, 'tokens.json'),
        dir: values.dir as string,
        devicePort: values.port ?? '/dev/ttyUSB0',
        scannerPort: values.scanner ?? '/dev/ttyACM0',
        ...(values.images !== undefined ? { imagesDir: values.images } : {}),
        ...(values.fixture !== undefined ? { fixture: values.fixture } : {}),
      },
      (line) => console.log(line),
    );
    return 0;
  },
});

export default command;
