/**
 * The offline verifier page as the Node side ships it: the single HTML file scripts/bundle-page.js builds into
 * dist/web/verify.html (part of `npm run build`). `flashtrail export` writes it next to every export and the
 * ledger serves it at GET /verify.html, so that a recipient can check the evidence with nothing but a browser.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VERIFIER_PAGE_NAME = 'verify.html';

/** dist/web/verify.html, from dist/src/web/ once compiled, or from src/web/ when run through tsx. */
export function verifierPagePath(): string {
  const url = import.meta.url.endsWith('.ts') ? new URL('../../dist/web/verify.html', import.meta.url) : new URL('../../web/verify.html', import.meta.url);
  return fileURLToPath(url);
}

let cached: Uint8Array | null = null;

/** The page's bytes, or null when it was not built (a checkout run from source without `npm run build`). */
export function verifierPage(): Uint8Array | null {
  if (cached) return cached;
  try {
    const bytes = readFileSync(verifierPagePath());
    cached = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return cached;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
