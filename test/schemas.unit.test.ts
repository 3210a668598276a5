import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderJsonSchemas, JSON_SCHEMAS_DIR } from '../schemas/render-json.ts';

const DIR = join(fileURLToPath(new URL('..', import.meta.url)), JSON_SCHEMAS_DIR);

describe('generated JSON Schemas', () => {
  it('schemas/json matches the zod schemas (run `npm run schemas` after changing them)', () => {
    const rendered = renderJsonSchemas();
    const onDisk = readdirSync(DIR).filter((f) => f.endsWith('.schema.json')).sort();
    expect(onDisk).toEqual([...rendered.keys()].sort());
    for (const [name, text] of rendered) expect(readFileSync(join(DIR, name), 'utf8'), `${name} is stale`).toBe(text);
  });
  it('the event schema lists every event type', () => {
    const schema = JSON.parse(renderJsonSchemas().get('ledger-event.schema.json') as string) as { oneOf?: unknown[]; anyOf?: unknown[] };
    // One member per event type (a type with several schema versions is a union of them).
    expect((schema.oneOf ?? schema.anyOf ?? []).length).toBe(33);
  });
});
