/**
 * The Python and Java clients carry the table of event types and schema versions they read; it must be the one
 * schemas/event.ts defines, or a client refuses events a ledger writes (a version it does not know) or accepts
 * a type no ledger writes. This reads each client's source between its `event-versions` markers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitEventVersions } from '../schemas/unit-events.ts';
import { adminEventVersions } from '../schemas/admin-events.ts';
import { ledgerEventVersions } from '../schemas/ledger-events.ts';
import { ROOT } from './helpers/cli.ts';

type Row = { type: string; kind: string; versions: number[] };

const schemaRows: Row[] = (
  [
    ['station', unitEventVersions],
    ['admin', adminEventVersions],
    ['ledger', ledgerEventVersions],
  ] as const
).flatMap(([kind, table]) => Object.entries(table).map(([type, versions]) => ({ type, kind, versions: Object.keys(versions).map(Number).sort((a, b) => a - b) })));

function block(file: string, comment: string): string {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const begin = text.indexOf(`${comment} event-versions:begin`);
  const end = text.indexOf(`${comment} event-versions:end`);
  expect(begin, `${file} has its event-versions markers`).toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(begin);
  return text.slice(begin, end);
}

const numbers = (list: string) => list.split(',').map((v) => v.trim()).filter(Boolean).map(Number);

describe('client event version tables', () => {
  it('the schema side has every type of every kind (the comparison below is not vacuous)', () => {
    expect(schemaRows.length).toBeGreaterThan(30);
    expect(schemaRows.find((r) => r.type === 'StationRegistered')?.versions).toEqual([1, 2, 3]);
  });

  it('Python (clients/python/flashtrail_client/events.py) mirrors schemas/event.ts', () => {
    const rows = [...block('clients/python/flashtrail_client/events.py', '#').matchAll(/^\s*"(\w+)": \("(\w+)", \(([\d, ]+)\)\),$/gm)].map((m) => ({ type: m[1] as string, kind: m[2] as string, versions: numbers(m[3] as string) }));
    expect(rows).toEqual(schemaRows);
  });

  it('Java (clients/java/…/Events.java) mirrors schemas/event.ts', () => {
    const rows = [...block('clients/java/src/dev/flashtrail/client/Events.java', '//').matchAll(/^\s*type\("(\w+)", "(\w+)", ([\d, ]+)\)[,;)]+$/gm)].map((m) => ({ type: m[1] as string, kind: m[2] as string, versions: numbers(m[3] as string) }));
    expect(rows).toEqual(schemaRows);
  });
});
