// The offline verifier page: one self-contained HTML file (dist/web/verify.html) that works from file:// with
// no network. esbuild bundles the page's script (src/web/verifier/main.ts: the page, and in a Web Worker the
// worker, from one text) into page.html with the style; the Content-Security-Policy admits exactly
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

/** page.html of `dir` with its page.css and the bundle of its `entry` inlined, as dist/web/NAME. */
async function buildPage(root, dir, name, entry = 'page.ts') {
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const script = await bundleText(root, join(dir, entry), { format: 'esm' });
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

/** The offline verifier page, dist/web/verify.html: its script is its Web Workers' script too (main.ts). */
export async function buildVerifierPage(root) {
  return buildPage(root, join(root, 'src', 'web', 'verifier'), 'verify.html', 'main.ts');
}

/** The web interface of the ledger (GET /ui), dist/web/app.html. */
export async function buildAppPage(root) {
  return buildPage(root, join(root, 'src', 'web', 'app'), 'app.html');
}
