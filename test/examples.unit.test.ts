/** The example files the README's "Setting up a line" submits: valid data of the newest schema version, and consistent. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSIONS, parseEventData } from '../schemas/index.ts';

const EXAMPLES = join(fileURLToPath(import.meta.url), '..', '..', 'examples');
const read = (name: string) => JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as Record<string, unknown>;

describe('examples/', () => {
  it('release.json is ReleaseApproved data of the newest version, batch.json BatchOpened data of it', () => {
    const release = parseEventData('ReleaseApproved', read('release.json'));
    expect(release.ok ? release.schemaVersion : release.issues).toBe(SCHEMA_VERSIONS.ReleaseApproved);
    const batch = parseEventData('BatchOpened', read('batch.json'));
    expect(batch.ok ? batch.schemaVersion : batch.issues).toBe(SCHEMA_VERSIONS.BatchOpened);
    expect(read('batch.json')).toMatchObject({ releaseId: read('release.json')['releaseId'], productSku: read('release.json')['productSku'] });
  });

  it('no digest in them is a placeholder (all zeros, or one repeated digit)', () => {
    const digests = JSON.stringify(read('release.json')).match(/"[0-9a-f]{64,128}"/g) ?? [];
    expect(digests.length).toBeGreaterThan(3);
    for (const d of digests) expect(d, d).not.toMatch(/^"(.)\1+"$/);
  });
});
