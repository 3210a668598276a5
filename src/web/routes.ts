/**
 * The ledger's web pages, mounted at the root of the API app (src/api/app.ts). GET /verify.html is the offline
 * verifier page, public like the page written next to every export: it holds no ledger data, and whoever
 * checks evidence with it gives it the key they pinned, never one this server hands out.
 */
import { Hono } from 'hono';
import { verifierPage } from './verifier-page.ts';

/** The pages answer with the same protective headers; the verifier page's own policy is in its <meta>. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
} as const;

export function webRoutes(): Hono {
  const web = new Hono();
  web.get('/verify.html', (c) => {
    const page = verifierPage();
    if (!page) return c.text('the offline verifier page is not built (npm run build)\n', 404);
    return c.body(page as Uint8Array<ArrayBuffer>, 200, PAGE_HEADERS);
  });
  return web;
}
