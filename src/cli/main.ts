#!/usr/bin/env node
/**
 * The `flashtrail` command line. Parses arguments and hands over to the composition root (main.ts).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFromEnv, initDataDir, startLedgerServer } from '../server/main.ts';
import { readSecretKeyFile, writeSecretKeyFile, KeyFileError } from '../files/key-file.ts';
import { newSigner } from '../crypto/ed25519.ts';
import { toHex } from '../crypto/encoding.ts';
import { addToken } from '../api/tokens.ts';
import { runDemo } from '../sim/demo.ts';
import { writeJsonSchemas } from '../files/json-schemas.ts';
import { JSON_SCHEMAS_DIR } from '../../schemas/render-json.ts';
import { rebuildDerivedFiles } from '../server/rebuild.ts';
import { EventSigner } from '../event/signer.ts';
import { LedgerClient, LedgerClientError } from '../client/ledger-client.ts';
import { ADMIN_EVENT_TYPES, type AdminEvent } from '../../schemas/index.ts';
import { streamOf } from '../event/streams.ts';
import { isExportFile, verifyConsistencyFiles, verifyExportCommand, verifyProvenanceFile } from './commands/verify.ts';
import { exportToFile } from './commands/export.ts';
import { migrate, openStoreUrl } from '../store/migrate.ts';
import { stationInit, stationRun, stationStatus } from '../../station/main.ts';
import { StationConfigError } from '../../station/config.ts';
import { DEFAULT_FAILURE_RATES, runSimulation, type SimulateOptions } from '../sim/run-simulation.ts';
import { SIM_STEPS, type SimStep } from '../sim/simulator.ts';

const USAGE = `flashtrail — signed, append-only traceability ledger for factory firmware flashing

usage:
  flashtrail demo [--units N] [--batch-units N] [--data DIR]
                                                    start a ledger, flash simulated units, print their state
  flashtrail simulate [--units N] [--stations N] [--seed N] [--fail step=rate,…] [--max-retries N]
        [--max-reworks N] [--defect-rate R] [--drift STATION@FROM+MINUTES | --no-drift] [--cycle-seconds S]
        [--data DIR] [--url URL] [--json]           flash a simulated batch, print its scrap and drift report
  flashtrail station init --id ID --key FILE [--line L]   create a station key, print its registration
  flashtrail station run --config station.json       run the station agent (scanner, flash tools, outbox)
  flashtrail station status --config station.json    events pending in, delivered from and refused by the outbox
  flashtrail serve [--data DIR] [--host H] [--port P]
                                                    run the ledger API (default 127.0.0.1:8080, ./data)
  flashtrail init [--data DIR]                      create a data directory with an admin key and token
  flashtrail keys generate --out FILE [--comment C] new Ed25519 key (file mode 0600), prints its public key
  flashtrail tokens add --name N --role station|auditor|admin [--station ID] [--data DIR]
                                                    add a bearer token; prints it once
  flashtrail admin submit TYPE DATA.json|-          sign and submit an administrative event
        [--key data/admin.key] [--url http://127.0.0.1:8080] [--token-file data/admin.token]
        TYPE: ${ADMIN_EVENT_TYPES.join(', ')}
  flashtrail export --url URL --token-file F --out FILE.ndjson
        (--batch B | --serial S… | --firmware SHA | --customer C | --from DAY --to DAY)
                                                    a signed traceability export, plus FILE.csv for people
  flashtrail verify FILE --ledger-key KEY|@FILE [--json] [--portable] [--workers N]
                                                    verify a provenance document or an export offline
  flashtrail verify-consistency OLD NEW --ledger-key KEY|@FILE (--proof FILE | --url URL --token-file F) [--json]
                                                    verify that checkpoint NEW extends checkpoint OLD
  flashtrail migrate --from sqlite:PATH --to esdb://HOST:2113?tls=false
                                                    copy a ledger into KurrentDB/EventStoreDB, then compare Merkle roots
  flashtrail projections rebuild [--data DIR]       rebuild the read model and Merkle log from the event log
  flashtrail schemas generate                       regenerate schemas/json from the zod schemas

environment: FLASHTRAIL_DATA_DIR, FLASHTRAIL_HOST, FLASHTRAIL_PORT, FLASHTRAIL_TOKENS_FILE, FLASHTRAIL_TOKENS,
             FLASHTRAIL_ADMIN_KEYS_FILE, FLASHTRAIL_LOG_LEVEL, FLASHTRAIL_MAX_BODY_BYTES`;

class UsageError extends Error {}

/** For long-running commands: on SIGINT or SIGTERM, shut down cleanly, then exit 0. Never resolves. */
function runUntilSignal(shutdown: () => Promise<void>): Promise<number> {
  const stop = () => {
    void shutdown().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<number>(() => undefined);
}

function need(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  type Options = Record<string, { type: 'string' | 'boolean' }>;
  const args = (options: Options, from: string[]) => {
    const parsed = parseArgs({ args: from, options, allowPositionals: true, strict: true });
    return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
  };

  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;

    case 'demo': {
      const { values } = args({ units: { type: 'string' }, 'batch-units': { type: 'string' }, data: { type: 'string' } }, [sub ?? '', ...rest].filter(Boolean));
      const units = Number(values['units'] ?? 12);
      if (!Number.isInteger(units) || units < 1 || units > 10_000) throw new UsageError('--units must be a whole number from 1 to 10000');
      const batchUnits = Number(values['batch-units'] ?? 400);
      if (!Number.isInteger(batchUnits) || batchUnits < 0 || batchUnits > 100_000) throw new UsageError('--batch-units must be a whole number from 0 to 100000');
      await runDemo({ units, batchUnits, ...(typeof values['data'] === 'string' ? { dataDir: values['data'] } : {}) });
      return 0;
    }

    case 'simulate': {
      const { values } = args(
        {
          units: { type: 'string' }, stations: { type: 'string' }, seed: { type: 'string' }, fail: { type: 'string' }, 'max-retries': { type: 'string' },
          'max-reworks': { type: 'string' }, drift: { type: 'string' }, 'no-drift': { type: 'boolean' }, 'cycle-seconds': { type: 'string' },
          data: { type: 'string' }, url: { type: 'string' }, json: { type: 'boolean' }, 'defect-rate': { type: 'string' },
        },
        [sub ?? '', ...rest].filter(Boolean),
      );
      const int = (name: string, fallback: number, min: number, max: number) => {
        const raw = values[name];
        const n = raw === undefined ? fallback : Number(raw);
        if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
        return n;
      };
      const rate = (name: string, fallback: number) => {
        const raw = values[name];
        const n = raw === undefined ? fallback : Number(raw);
        if (!(n >= 0 && n < 1)) throw new UsageError(`--${name} must be a rate from 0 to below 1`);
        return n;
      };
      const failureRates: Partial<Record<SimStep, number>> = { ...DEFAULT_FAILURE_RATES };
      if (typeof values['fail'] === 'string') {
        for (const part of values['fail'].split(',')) {
          const [step, rate] = part.split('=');
          if (!(SIM_STEPS as readonly string[]).includes(step ?? '') || !(Number(rate) >= 0 && Number(rate) < 1)) {
            throw new UsageError(`--fail takes step=rate pairs, steps ${SIM_STEPS.join(', ')}, rates from 0 to below 1`);
          }
          failureRates[step as SimStep] = Number(rate);
        }
      }
      const stations = int('stations', 4, 1, 99);
      let drift: SimulateOptions['drift'] = stations > 1 ? { station: 'ST-02', fromMinute: 30, minutes: 60 } : null;
      if (values['no-drift'] === true) drift = null;
      else if (typeof values['drift'] === 'string') {
        const m = /^([A-Za-z0-9._:-]+)@(\d+)\+(\d+)$/.exec(values['drift']);
        if (!m) throw new UsageError('--drift takes STATION@FROM_MINUTE+MINUTES, e.g. ST-02@30+60');
        drift = { station: m[1] as string, fromMinute: Number(m[2]), minutes: Number(m[3]) };
      }
      const result = await runSimulation({
        units: int('units', 1000, 1, 1_000_000),
        stations,
        seed: int('seed', 1, 0, 2 ** 31),
        failureRates,
        maxRetriesPerStep: int('max-retries', 1, 0, 10),
        maxReworks: int('max-reworks', 1, 0, 10),
        defectRate: rate('defect-rate', 0.003),
        drift,
        cycleSeconds: int('cycle-seconds', 60, 1, 86_400),
        ...(typeof values['data'] === 'string' ? { dataDir: values['data'] } : {}),
        ...(typeof values['url'] === 'string' ? { url: values['url'] } : {}),
        json: values['json'] === true,
        out: (line) => console.log(line),
        progress: (line) => console.error(line),
      });
      return result.agrees ? 0 : 1;
    }

    case 'station': {
      const { values } = args({ config: { type: 'string' }, id: { type: 'string' }, key: { type: 'string' }, line: { type: 'string' } }, rest);
      const out = (line: string) => console.log(line);
      if (sub === 'init') {
        stationInit(need(values['id'] as string | undefined, '--id STATION_ID'), need(values['key'] as string | undefined, '--key FILE'), (values['line'] as string | undefined) ?? 'L1', out);
        return 0;
      }
      const config = need(values['config'] as string | undefined, '--config station.json');
      if (sub === 'status') return stationStatus(config, out);
      if (sub !== 'run') throw new UsageError('usage: flashtrail station init | run | status');
      const running = await stationRun(config, (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`));
      return runUntilSignal(() => running.stop());
    }

    case 'serve': {
      const { values } = args({ data: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' } }, [sub ?? '', ...rest].filter(Boolean));
      const config = configFromEnv(process.env, {
        ...(typeof values['data'] === 'string' ? { dataDir: values['data'] } : {}),
        ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
        ...(typeof values['port'] === 'string' ? { port: Number(values['port']) } : {}),
      });
      const running = await startLedgerServer(config);
      return runUntilSignal(() => running.close());
    }

    case 'init': {
      const { values } = args({ data: { type: 'string' } }, [sub ?? '', ...rest].filter(Boolean));
      const config = configFromEnv(process.env, typeof values['data'] === 'string' ? { dataDir: values['data'] } : {});
      const init = initDataDir(config);
      console.log(init.created ? `initialised ${config.dataDir}` : `${config.dataDir} is already initialised`);
      console.log(`  administrator key: ${init.adminKeyFile}\n  admin token:       ${init.adminTokenFile}\n  ledger key:        ${init.ledgerKeyFile}`);
      console.log(`  verifier key (give it to auditors):\n  ${init.verifierKey}`);
      return 0;
    }

    case 'keys': {
      if (sub !== 'generate') throw new UsageError('usage: flashtrail keys generate --out FILE');
      const { values } = args({ out: { type: 'string' }, comment: { type: 'string' } }, rest);
      const out = need(values['out'] as string | undefined, '--out FILE');
      const signer = newSigner();
      writeSecretKeyFile(out, signer, values['comment'] as string | undefined);
      console.log(JSON.stringify({ keyFile: out, keyId: signer.keyId, publicKey: toHex(signer.publicKey), algorithm: 'ed25519' }, null, 2));
      return 0;
    }

    case 'tokens': {
      if (sub !== 'add') throw new UsageError('usage: flashtrail tokens add --name N --role ROLE [--station ID]');
      const { values } = args({ name: { type: 'string' }, role: { type: 'string' }, station: { type: 'string' }, data: { type: 'string' } }, rest);
      const config = configFromEnv(process.env, typeof values['data'] === 'string' ? { dataDir: values['data'] } : {});
      const role = need(values['role'] as string | undefined, '--role');
      if (role !== 'station' && role !== 'auditor' && role !== 'admin') throw new UsageError('--role must be station, auditor or admin');
      if (role === 'station' && !values['station']) throw new UsageError('a station token needs --station ID');
      const token = addToken(config.tokensFile, {
        name: need(values['name'] as string | undefined, '--name'),
        role,
        ...(role === 'station' ? { stationId: values['station'] as string } : {}),
      });
      console.error(`added token ${String(values['name'])} (${role}) to ${config.tokensFile}; it is shown only now:`);
      console.log(token);
      return 0;
    }

    case 'admin': {
      if (sub !== 'submit') throw new UsageError('usage: flashtrail admin submit TYPE DATA.json|-');
      const { values, positionals } = args({ key: { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' }, data: { type: 'string' } }, rest);
      const [type, source] = positionals;
      if (!type || !(ADMIN_EVENT_TYPES as string[]).includes(type)) throw new UsageError(`TYPE must be one of ${ADMIN_EVENT_TYPES.join(', ')}`);
      const data = JSON.parse(readFileSync(need(source, 'DATA.json (or - for stdin)') === '-' ? 0 : (source as string), 'utf8')) as AdminEvent['data'];
      const config = configFromEnv(process.env, typeof values['data'] === 'string' ? { dataDir: values['data'] } : {});
      const signer = new EventSigner(readSecretKeyFile((values['key'] as string | undefined) ?? join(config.dataDir, 'admin.key')), 'admin');
      const token = readFileSync((values['token-file'] as string | undefined) ?? join(config.dataDir, 'admin.token'), 'utf8').trim();
      const client = new LedgerClient((values['url'] as string | undefined) ?? `http://${config.host}:${config.port}`, token);
      const stream = streamOf({ type, data } as AdminEvent);
      const head = await client.get<{ digest: string | null }>(`/v1/streams/${encodeURIComponent(stream)}/head`);
      const signed = signer.sign(type as AdminEvent['type'], data as never, { prev: head.digest });
      const [result] = await client.appendAdmin([signed.envelope]);
      console.log(JSON.stringify(result, null, 2));
      return 0;
    }

    case 'verify': {
      const { values, positionals } = args(
        { 'ledger-key': { type: 'string' }, json: { type: 'boolean' }, portable: { type: 'boolean' }, workers: { type: 'string' } },
        [sub ?? '', ...rest].filter(Boolean),
      );
      const file = need(positionals[0], 'FILE (a provenance document or an export)');
      const key = need(values['ledger-key'] as string | undefined, '--ledger-key (the ledger verifier key, or @file)');
      const o = { out: (l: string) => console.log(l), json: values['json'] === true };
      if (isExportFile(file)) {
        const workers = values['workers'] === undefined ? undefined : Number(values['workers']);
        if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 256)) throw new UsageError('--workers must be a whole number from 1 to 256');
        return verifyExportCommand(file, key, o, { portable: values['portable'] === true, ...(workers ? { workers } : {}), progress: (l) => console.error(l) });
      }
      return verifyProvenanceFile(file, key, o);
    }

    case 'export': {
      const { values } = args(
        { url: { type: 'string' }, 'token-file': { type: 'string' }, out: { type: 'string' }, batch: { type: 'string' }, serial: { type: 'string', multiple: true } as never, firmware: { type: 'string' }, customer: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, data: { type: 'string' } },
        [sub ?? '', ...rest].filter(Boolean),
      );
      const config = configFromEnv(process.env, typeof values['data'] === 'string' ? { dataDir: values['data'] } : {});
      const token = readFileSync((values['token-file'] as string | undefined) ?? join(config.dataDir, 'admin.token'), 'utf8').trim();
      const out = need(values['out'] as string | undefined, '--out FILE.ndjson');
      const serials = values['serial'] as unknown as string[] | undefined;
      const selection = {
        ...(typeof values['batch'] === 'string' ? { batchId: values['batch'] } : {}),
        ...(serials && serials.length > 0 ? { serials } : {}),
        ...(typeof values['firmware'] === 'string' ? { firmwareSha256: values['firmware'] } : {}),
        ...(typeof values['customer'] === 'string' ? { customer: values['customer'] } : {}),
        ...(typeof values['from'] === 'string' ? { from: values['from'] } : {}),
        ...(typeof values['to'] === 'string' ? { to: values['to'] } : {}),
      };
      if (Object.keys(selection).length === 0) throw new UsageError('select units with --batch, --serial, --firmware, --customer or --from/--to');
      const result = await exportToFile((values['url'] as string | undefined) ?? `http://${config.host}:${config.port}`, token, selection, out, (l) => console.error(l));
      console.log(`wrote ${out} (${result.units} units) and ${result.csv}`);
      return 0;
    }

    case 'verify-consistency': {
      const { values, positionals } = args(
        { 'ledger-key': { type: 'string' }, json: { type: 'boolean' }, proof: { type: 'string' }, url: { type: 'string' }, 'token-file': { type: 'string' } },
        [sub ?? '', ...rest].filter(Boolean),
      );
      const key = need(values['ledger-key'] as string | undefined, '--ledger-key (the ledger verifier key, or @file)');
      const tokenFile = values['token-file'] as string | undefined;
      const token = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : process.env['FLASHTRAIL_TOKEN'];
      return verifyConsistencyFiles(need(positionals[0], 'OLD checkpoint file'), need(positionals[1], 'NEW checkpoint file'), key, {
        ...(typeof values['proof'] === 'string' ? { proofFile: values['proof'] } : {}),
        ...(typeof values['url'] === 'string' ? { url: values['url'] } : {}),
        ...(token ? { token } : {}),
      }, { out: (l) => console.log(l), json: values['json'] === true });
    }

    case 'migrate': {
      const { values } = args({ from: { type: 'string' }, to: { type: 'string' } }, [sub ?? '', ...rest].filter(Boolean));
      const from = openStoreUrl(need(values['from'] as string | undefined, '--from sqlite:PATH'));
      const to = openStoreUrl(need(values['to'] as string | undefined, '--to esdb://…'));
      try {
        let shown = 0;
        const result = await migrate(from, to, (copied, head) => {
          if (Date.now() - shown > 1000) {
            shown = Date.now();
            console.error(`  copied ${copied} events (source head at position ${head})`);
          }
        });
        console.log(`copied ${result.events} events\n  source Merkle root      ${result.sourceRoot}\n  destination Merkle root ${result.destinationRoot}`);
        if (result.sourceRoot !== result.destinationRoot) {
          console.error('flashtrail: the Merkle roots differ: the destination holds other events, or the copy is incomplete');
          return 1;
        }
        console.log('identical: the copy is complete and in the same order');
        return 0;
      } finally {
        await from.close();
        await to.close();
      }
    }

    case 'projections': {
      if (sub !== 'rebuild') throw new UsageError('usage: flashtrail projections rebuild [--data DIR]');
      const { values } = args({ data: { type: 'string' } }, rest);
      const config = configFromEnv(process.env, typeof values['data'] === 'string' ? { dataDir: values['data'] } : {});
      return (await rebuildDerivedFiles(config, (line) => console.error(line))).ok ? 0 : 1;
    }

    case 'schemas': {
      if (sub !== 'generate') throw new UsageError('usage: flashtrail schemas generate');
      const written = writeJsonSchemas(JSON_SCHEMAS_DIR);
      console.log(`wrote ${written.length} JSON Schema files to schemas/json`);
      return 0;
    }

    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`flashtrail: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (error instanceof LedgerClientError) {
      console.error(`flashtrail: the ledger refused: ${error.message}`);
      process.exit(1);
    }
    if (error instanceof KeyFileError || error instanceof StationConfigError || (error instanceof Error && 'code' in error && typeof error.code === 'string')) {
      console.error(`flashtrail: ${error.message}`);
      process.exit(1);
    }
    console.error(error);
    process.exit(1);
  },
);
