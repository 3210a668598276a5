/**
 * The SBOMs attached to releases, kept content-addressed in the data directory (sboms/<sha256>), written
 * durably and never replaced: a file's name is the SHA-256 of its bytes, so the evidence an SbomAttached
 * event names can be found and checked for as long as the ledger is kept (CRA Art. 13(13): ten years).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { mkdirDurable, writeFileDurable } from './durable.ts';

const SHA256 = /^[0-9a-f]{64}$/;

export class SbomStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new RangeError(`${sha256} is not a lowercase hex SHA-256`);
    return join(this.dir, sha256);
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  /** The stored bytes, checked against their name; null when absent. A damaged file is an error naming it. */
  get(sha256: string): Uint8Array | null {
    const path = this.pathOf(sha256);
    if (!existsSync(path)) return null;
    const bytes = readFileSync(path);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new Error(`${path} is damaged: its SHA-256 is ${actual}; restore it from a backup`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Stores the bytes under their SHA-256 (a second put of the same bytes is a no-op); returns the digest. */
  put(bytes: Uint8Array): string {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (this.has(sha256)) return sha256;
    mkdirDurable(this.dir, 0o700);
    try {
      writeFileDurable(this.pathOf(sha256), bytes, { mode: 0o600, overwrite: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return sha256;
  }
}
