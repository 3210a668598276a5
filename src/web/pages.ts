/**
 * The built pages as the Node side ships them: the single HTML files scripts/bundle-page.js builds into
 * dist/web/ (part of `npm run build`). `flashtrail export` writes the offline verifier page next to every
 * export and the ledger serves it at GET /verify.html, so that a recipient can check the evidence with nothing
 * but a browser; the web interface is dist/web/app.html, served at GET /ui.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VERIFIER_PAGE_NAME = 'verify.html';
export const APP_PAGE_NAME = 'app.html';

/** dist/web/NAME, from dist/src/web/ once compiled, or from src/web/ when run through tsx. */
export function builtPagePath(name: string): string {
  const url = import.meta.url.endsWith('.ts') ? new URL(`../../dist/web/${name}`, import.meta.url) : new URL(`../../web/${name}`, import.meta.url);
  return fileURLToPath(url);
}

const cache = new Map<string, Uint8Array>();

/** A page's bytes, or null when it was not built (a checkout run from source without `npm run build`). */
export function builtPage(name: string): Uint8Array | null {
  const cached = cache.get(name);
  if (cached) return cached;
  try {
    const bytes = readFileSync(builtPagePath(name));
    const page = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    cache.set(name, page);
    return page;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export function verifierPage(): Uint8Array | null {
  return builtPage(VERIFIER_PAGE_NAME);
}
