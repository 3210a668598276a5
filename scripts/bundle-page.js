// The offline verifier page: one self-contained HTML file (dist/web/verify.html) that works from file:// with
// no network. esbuild bundles the Web Worker (src/web/verifier/worker.ts) into a string, the page script
// (page.ts) around it, and both into page.html with the style; the Content-Security-Policy admits exactly
// that script and style by their SHA-256, workers from blob: URLs, and no connection of any kind.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cspHash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

async function bundleText(root, entry, options) {
  const result = await build({ absWorkingDir: root, entryPoints: [entry], bundle: true, platform: 'browser', target: 'chrome110', minify: true, write: false, logLevel: 'warning', legalComments: 'none', charset: 'utf8', ...options });
  return result.outputFiles[0].text;
}

/** page.html of `dir` with its page.css and the bundle of its page.ts (and `define`s) inlined, as dist/web/NAME. */
async function buildPage(root, dir, name, define = {}) {
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const script = await bundleText(root, join(dir, 'page.ts'), { format: 'esm', define });
  // Inline, `</script` would end the element early; esbuild escapes it in strings, and this makes sure.
  if (/<\/script/i.test(script)) throw new Error('the page script contains "</script": it cannot be inlined');
  const style = readFileSync(join(dir, 'page.css'), 'utf8');
  const fill = { SCRIPT_HASH: cspHash(script), STYLE_HASH: cspHash(style), VERSION: version, STYLE: style, SCRIPT: script };
  const html = readFileSync(join(dir, 'page.html'), 'utf8').replace(/SCRIPT_HASH|STYLE_HASH|VERSION|STYLE|SCRIPT/g, (name) => fill[name]);
  const out = join(root, 'dist', 'web');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${name}.tmp`), html);
  renameSync(join(out, `${name}.tmp`), join(out, name));
  return join(out, name);
}

/** The offline verifier page, dist/web/verify.html, with its Web Worker's bundle inside. */
export async function buildVerifierPage(root) {
  const dir = join(root, 'src', 'web', 'verifier');
  const worker = await bundleText(root, join(dir, 'worker.ts'), { format: 'iife' });
  return buildPage(root, dir, 'verify.html', { WORKER_SOURCE: JSON.stringify(worker) });
}

/** The web interface of the ledger (GET /ui), dist/web/app.html. */
export async function buildAppPage(root) {
  return buildPage(root, join(root, 'src', 'web', 'app'), 'app.html');
}
