/**
 * `flashtrail export`: asks the ledger for a signed traceability export, streams it to a file with progress,
 * and writes the human summary (CSV of units with firmware hashes and dates) next to it.
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { EXPORT_FORMAT_V4, EXPORT_FORMAT_V5, type ExportRecord, type ExportSelection } from '../../verify/export-format.ts';
import { fromBase64, fromUtf8 } from '../../crypto/encoding.ts';
import type { LedgerEvent, UnitEvent } from '../../../schemas/index.ts';
import { firmwareOf } from '../../event/firmware.ts';
import { errorFromResponse, fetchLedger } from '../../client/ledger-client.ts';
import { configFromEnv, ledgerUrl } from '../../server/config.ts';
import { defineCommand } from '../command.ts';
import { CliError, UsageError } from '../errors.ts';
import { DurableFileWriter, writeFileDurable } from '../../files/durable.ts';
import { csvRecord } from '../../../projections/csv.ts';
import { readTokenFile } from '../input.ts';
import { resolveLedgerUrl } from '../ledger-url.ts';
import { VERIFIER_PAGE_NAME, verifierPage } from '../../web/pages.ts';

/**
 * Streams an export from the ledger into a temporary file beside OUT, checks that it arrived whole (every line
 * ends with a newline, the last line is the statement, and the statement's content digest and counts are those
 * of the bytes received), and only then renames it into place, durably. Anything else (a refusal, a dropped
 * connection, a truncated or inconsistent file) leaves no file behind and throws, naming what went wrong.
 * The signatures are not checked here: `flashtrail verify` does that against the key you pinned.
 */
export async function exportToFile(
  url: string,
  token: string,
  selection: ExportSelection,
  out: string,
  progress: (line: string) => void,
  options: { readonly refuseEmpty?: boolean } = {},
): Promise<{ units: number; csv: string; page: string | null; format: string; formatNote: string | null; firmware: { now: number; formerly: number; size: number } | null }> {
  // Opened first: a bad path fails before the ledger is asked, and with the file's name.
  const file = await DurableFileWriter.open(out, { mode: 0o644 });
  try {
    const result = await streamExport(url, token, selection, file, progress);
    // An empty export is valid (it proves the key records), but asked for from the command line it is almost
    // always a mistyped batch or serial: say so, and leave no file that looks like an answer.
    if (options.refuseEmpty && result.units === 0) throw new CliError(`no unit matches the selection ${JSON.stringify(selection)}: nothing was exported (check the batch id, serials, firmware hash, customer or days)`);
    const csv = out.replace(/\.ndjson$/, '') + '.csv';
    await file.commit();
    writeFileDurable(csv, result.csvRows.join(''), { mode: 0o644 });
    return { units: result.units, csv, format: result.format, formatNote: result.formatNote, firmware: result.firmware, page: await writeVerifierPage(dirname(out), result.verifierPage, url, progress) };
  } catch (error) {
    await file.abort();
    throw error;
  }
}

/**
 * The offline verifier page next to the export: the recipient opens it in a browser, gives it the key they
 * pinned, and drops the export on it. A v3 statement names the page by its SHA-256 (the page the ledger serves
 * at /verify.html), so the page written is exactly that one: this installation's built page when it is the same,
 * else the ledger's, each checked against the signed digest; a page that matches neither is not written.
 */
async function writeVerifierPage(dir: string, recorded: { sha256: string } | null, url: string, progress: (line: string) => void): Promise<string | null> {
  const file = join(dir, VERIFIER_PAGE_NAME);
  const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  if (recorded === null) {
    progress(`  ${VERIFIER_PAGE_NAME} not written: the ledger has no offline verifier page built (npm run build on the ledger), and the statement names none`);
    return null;
  }
  let page = verifierPage();
  if (!page || digest(page) !== recorded.sha256) {
    try {
      const response = await fetchLedger(new URL(`/${VERIFIER_PAGE_NAME}`, url), {});
      page = response.ok ? new Uint8Array(await response.arrayBuffer()) : null;
    } catch {
      page = null;
    }
  }
  if (!page || digest(page) !== recorded.sha256) {
    progress(`  ${VERIFIER_PAGE_NAME} not written: neither this installation's page nor the ledger's has the SHA-256 the statement names (${recorded.sha256})`);
    return null;
  }
  writeFileDurable(file, page, { mode: 0o644 });
  return file;
}

async function streamExport(
  url: string,
  token: string,
  selection: ExportSelection,
  file: DurableFileWriter,
  progress: (line: string) => void,
): Promise<{ units: number; csvRows: string[]; format: string; formatNote: string | null; firmware: { now: number; formerly: number; size: number } | null; verifierPage: { sha256: string } | null }> {
  const response = await fetchLedger(new URL('/v1/exports', url), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(selection),
  });
  if (!response.ok || !response.body) throw errorFromResponse(response, await response.text());
  const total = Number(response.headers.get('x-export-units') ?? 0);
  const formatNote = response.headers.get('x-export-note');
  let checkpointSize = -1;
  const firmware = { now: 0, formerly: 0 };
  const csvRows = [csvRecord(['serial', 'batch_id', 'release_id', 'status', 'bootloader_sha256', 'application_sha256', 'first_event_at', 'efuse_burned_at', 'shipped_at', 'customer'])];
  const content = createHash('sha256');
  let buffer = '';
  let units = 0;
  let records = 0;
  let events = 0;
  let statement: { content?: { sha256?: unknown; records?: unknown; units?: unknown; events?: unknown }; verifierPage?: { sha256?: unknown } | null } | null = null;
  let lastShown = 0;
  let format = '';
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const onLine = (line: string) => {
    if (statement) throw new CliError('the ledger sent data after the export statement: the file is not an export');
    let rec: ExportRecord;
    try {
      rec = JSON.parse(line) as ExportRecord;
    } catch {
      throw new CliError(`line ${records + 1} of the export is not JSON`);
    }
    if (rec.record === 'statement') {
      try {
        statement = (JSON.parse(fromUtf8(fromBase64(rec.envelope.payload))) as { predicate?: typeof statement }).predicate ?? {};
      } catch {
        throw new CliError('the export statement is not a DSSE envelope of an in-toto statement');
      }
      return;
    }
    content.update(line + '\n');
    records++;
    if (rec.record === 'header') format = String(rec.format);
    if (rec.record === 'checkpoint') checkpointSize = Number(rec.note.split('\n')[1]);
    if (rec.record === 'firmware') {
      firmware.now += rec.now.length;
      firmware.formerly += rec.formerly.length;
    }
    if (rec.record !== 'unit') return;
    units++;
    events += rec.events.length;
    csvRows.push(csvRow(rec));
    if (Date.now() - lastShown > 1000) {
      lastShown = Date.now();
      progress(`  exported ${units}/${total} units`);
    }
  };
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await file.write(chunk);
      buffer += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`the export broke off after ${records} records (${units} units): ${(error as Error).message}; nothing was written`);
  }
  if (buffer !== '') throw new CliError(`the export ended in the middle of a line after ${records} records: it is truncated; nothing was written`);
  const predicate = statement as { content?: { sha256?: unknown; records?: unknown; units?: unknown; events?: unknown }; verifierPage?: { sha256?: unknown } | null } | null;
  if (!predicate) throw new CliError(`the export ended after ${records} records without its signed statement: it is truncated; nothing was written`);
  const digest = content.digest('hex');
  const c = predicate.content ?? {};
  if (c.sha256 !== digest || c.records !== records || c.units !== units || c.events !== events) {
    throw new CliError(`the export's statement does not commit to the records received (sha256 ${digest.slice(0, 16)}…, ${records} records, ${units} units, ${events} events); nothing was written`);
  }
  progress(`  exported ${units}/${total} units`);
  const page = predicate.verifierPage;
  return { units, csvRows, format, formatNote, firmware: format === EXPORT_FORMAT_V5 ? { ...firmware, size: checkpointSize } : null, verifierPage: page && typeof page.sha256 === 'string' && /^[0-9a-f]{64}$/.test(page.sha256) ? { sha256: page.sha256 } : null };
}

/** One row of the people's summary: status, firmware hashes and dates, from the unit's signed events. */
function csvRow(rec: Extract<ExportRecord, { record: 'unit' }>): string {
  const events = rec.events.map((e) => JSON.parse(fromUtf8(fromBase64(e.envelope.payload))) as LedgerEvent);
  const last = <T extends LedgerEvent['type']>(type: T) => [...events].reverse().find((e) => e.type === type) as Extract<LedgerEvent, { type: T }> | undefined;
  // The firmware the signed events attest (src/event/firmware.ts): the fixed sequence's, or a recipe's images.
  const firmware = events.flatMap((e) => (e.source.kind === 'station' ? firmwareOf(e as UnitEvent) : []));
  const image = (...names: string[]) => [...firmware].reverse().find((f) => names.includes(f.name))?.sha256 ?? '';
  // The lock: a recipe's UnitLocked, or the fixed sequence's eFuse burn (version 1).
  const lock = [...events].reverse().find((e) => e.type === 'UnitLocked' || (e.type === 'EfuseBurned' && e.schemaVersion === 1));
  const status = last('UnitShipped') ? 'shipped' : last('UnitScrapped') ? 'scrapped' : lock ? 'locked' : 'in progress';
  return csvRecord([rec.serial, rec.batchId, rec.releaseId, status, image('bootloader'), image('application', 'app'), events[0]?.occurredAt, lock?.occurredAt, last('UnitShipped')?.occurredAt, last('UnitShipped')?.data.customer]);
}

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--out FILE.ndjson (--batch B | --serial S… | --firmware SHA | --customer C | --from DAY --to DAY) [--url URL] [--token-file FILE] [--data DIR]'],
  description: [
    'Asks the ledger for every event of the selected units, with inclusion proofs and a signed checkpoint, and',
    'an in-toto statement over the whole file; writes it as NDJSON, and FILE.csv next to it (one row per unit:',
    'status, firmware hashes, dates) for people. Anyone holding the ledger key can check it: flashtrail verify.',
  ].join('\n'),
  options: {
    out: { type: 'string', value: 'FILE.ndjson', required: true, help: 'the export to write' },
    batch: { type: 'string', value: 'B', help: 'the units of a batch' },
    serial: { type: 'string', value: 'S', multiple: true, help: 'a unit by serial number' },
    firmware: { type: 'string', value: 'SHA', help: 'the units carrying an image (SHA-256, hex) now or formerly; from a ledger whose map commits firmware, a v5 export proved to hold every one of them' },
    customer: { type: 'string', value: 'C', help: 'the units shipped to a customer' },
    from: { type: 'string', value: 'DAY', help: 'the units first seen on or after DAY (YYYY-MM-DD), with --to' },
    to: { type: 'string', value: 'DAY', help: '…and on or before DAY' },
    url: { type: 'string', value: 'URL', help: 'the ledger (default FLASHTRAIL_URL, else what serve wrote to <data>/ledger.url, else http://FLASHTRAIL_HOST:FLASHTRAIL_PORT)' },
    'token-file': { type: 'string', value: 'FILE', help: 'auditor or admin bearer token (default <data>/admin.token)' },
    data: { type: 'string', value: 'DIR', help: 'data directory holding the default token (default FLASHTRAIL_DATA_DIR or ./data)' },
  },
  environment: ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_URL', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT'],
  async run({ values }) {
    const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
    const selection = {
      ...(values.batch !== undefined ? { batchId: values.batch } : {}),
      ...(values.serial && values.serial.length > 0 ? { serials: values.serial } : {}),
      ...(values.firmware !== undefined ? { firmwareSha256: values.firmware } : {}),
      ...(values.customer !== undefined ? { customer: values.customer } : {}),
      ...(values.from !== undefined ? { from: values.from } : {}),
      ...(values.to !== undefined ? { to: values.to } : {}),
    };
    if (Object.keys(selection).length === 0) throw new UsageError('select units with --batch, --serial, --firmware, --customer or --from/--to');
    const url = resolveLedgerUrl(values.url, config.dataDir, ledgerUrl(config));
    const token = readTokenFile(values['token-file'] ?? join(config.dataDir, 'admin.token'));
    const out = values.out as string;
    const result = await exportToFile(url, token, selection, out, (l) => console.error(l), { refuseEmpty: true });
    console.log(`wrote ${out} (${result.units} units) and ${result.csv}${result.page ? `; open ${result.page} in a browser to verify it offline` : ''}`);
    // What the file can prove depends on its version (docs/format.md §7.6.2, §7.6.3): say which, and how to check it.
    const mapKeyHint = `flashtrail verify ${out} --map-key @unit-map.pub (GET /v1/unit-map/key)`;
    console.log(
      result.format === EXPORT_FORMAT_V5 && result.firmware
        ? `${result.format}: the firmware answer as of checkpoint ${result.firmware.size} (${result.firmware.now} unit(s) carrying it now, ${result.firmware.formerly} formerly) and every unit's map proof; ${mapKeyHint} proves the answer and ${Object.keys(selection).length === 1 || (Object.keys(selection).length === 2 && selection.serials) ? 'that the file holds every unit of it' : 'that every unit in the file is in it (the other selection members narrow it: units left out are counted, not proven outside)'}`
        : result.format === EXPORT_FORMAT_V4
          ? `${result.format}: every unit carries its map proof; ${mapKeyHint} proves each unit's history complete as of the checkpoint`
          : `${result.format}: the ledger keeps no unit history map (or it is out of service), so the export does not prove that each unit's history is complete`,
    );
    if (selection.firmwareSha256 !== undefined && result.format !== EXPORT_FORMAT_V5) console.log(`not ${EXPORT_FORMAT_V5}: ${result.formatNote ?? 'the ledger did not say why'}; the file does not prove that it holds every unit carrying the firmware`);
    return 0;
  },
});

export default command;
