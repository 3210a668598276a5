/**
 * `flashtrail export`: asks the ledger for a signed traceability export, streams it to a file with progress,
 * and writes the human summary (CSV of units with firmware hashes and dates) next to it.
 */
import { createWriteStream, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { ExportRecord, ExportSelection } from '../../verify/export-format.ts';
import { fromBase64, fromUtf8 } from '../../crypto/encoding.ts';
import type { LedgerEvent } from '../../../schemas/index.ts';
import { errorFromResponse } from '../../client/ledger-client.ts';

export async function exportToFile(url: string, token: string, selection: ExportSelection, out: string, progress: (line: string) => void): Promise<{ units: number; csv: string }> {
  const response = await fetch(new URL('/v1/exports', url), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(selection),
  });
  if (!response.ok || !response.body) throw errorFromResponse(response, await response.text());
  const total = Number(response.headers.get('x-export-units') ?? 0);
  const file = createWriteStream(out);
  const csvRows = ['serial,batch_id,release_id,status,bootloader_sha256,application_sha256,first_event_at,efuse_burned_at,shipped_at,customer'];
  let buffer = '';
  let units = 0;
  let lastShown = 0;
  const decoder = new TextDecoder();
  const onLine = (line: string) => {
    const rec = JSON.parse(line) as ExportRecord;
    if (rec.record !== 'unit') return;
    units++;
    const events = rec.events.map((e) => JSON.parse(fromUtf8(fromBase64(e.envelope.payload))) as LedgerEvent);
    const last = <T extends LedgerEvent['type']>(type: T) => [...events].reverse().find((e) => e.type === type) as Extract<LedgerEvent, { type: T }> | undefined;
    const app = [...events].reverse().find((e) => e.type === 'AppVerified' && e.data.result === 'pass') as Extract<LedgerEvent, { type: 'AppVerified' }> | undefined;
    const status = last('UnitShipped') ? 'shipped' : last('UnitScrapped') ? 'scrapped' : last('EfuseBurned') ? 'locked' : 'in progress';
    csvRows.push(
      [rec.serial, rec.batchId ?? '', rec.releaseId ?? '', status, last('BootloaderWritten')?.data.imageSha256 ?? '', app?.data.imageSha256 ?? '', events[0]?.occurredAt ?? '', last('EfuseBurned')?.occurredAt ?? '', last('UnitShipped')?.occurredAt ?? '', last('UnitShipped')?.data.customer ?? '']
        .map((v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v))
        .join(','),
    );
    if (Date.now() - lastShown > 1000) {
      lastShown = Date.now();
      progress(`  exported ${units}/${total} units`);
    }
  };
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (!file.write(chunk)) await once(file, 'drain');
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
  file.end();
  await once(file, 'finish');
  const csv = out.replace(/\.ndjson$/, '') + '.csv';
  writeFileSync(csv, csvRows.join('\r\n') + '\r\n');
  progress(`  exported ${units}/${total} units`);
  return { units, csv };
}
