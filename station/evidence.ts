/**
 * What the tools printed, kept where an auditor can ask for it: `<dataDir>/evidence/<sha256>`, named by the
 * SHA-256 of its exact bytes (the digest a signed event records), written durably before the event that
 * names it is signed. Content-addressed, so the same output is stored once and any copy can be checked with
 * `sha256sum`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../src/files/durable.ts';

export class EvidenceStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'evidence');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Stores the bytes (once) and returns their SHA-256, hex. */
  keep(bytes: Uint8Array | string): string {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    const digest = createHash('sha256').update(data).digest('hex');
    const path = join(this.dir, digest);
    if (!existsSync(path)) writeFileDurable(path, data, { mode: 0o600 });
    return digest;
  }

  read(digest: string): Buffer {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`${digest} is not a SHA-256 digest`);
    return readFileSync(join(this.dir, digest));
  }
}
