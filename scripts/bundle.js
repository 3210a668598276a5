// The bundles of `npm run build` after tsc: the standalone verifier package (packages/verify/dist) and the
// offline verifier page (dist/web/verify.html) and the ledger's web interface (dist/web/app.html). esbuild bundles the sources as they are: no source copies
// are committed, and what ships is built from the code the tests run.
//
//   node scripts/bundle.js            both
//   node scripts/bundle.js --package  the verifier package only
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildAppPage, buildVerifierPage } from './bundle-page.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Source folders the standalone verifier may contain: the pure layers, the Node backend, the verify commands. */
const ALLOWED = [/^src\/(crypto|merkle|tlog|scitt|event|domain|verify)\//, /^schemas\//, /^src\/native\/(crypto|ed25519|ml-dsa|export-verifier|export-worker)\.ts$/, /^src\/cli\/(command|errors|input)\.ts$/, /^src\/cli\/commands\/verify(-consistency)?\.ts$/, /^src\/client\/ledger-client\.ts$/, /^packages\/verify\/src\//];
/** Third-party packages it may bundle: pure JavaScript, no native addon. */
// @noble/post-quantum (and the @noble/curves utilities it uses) verifies the ledger's ML-DSA-44 checkpoint line;
// cborg (no dependencies, runs in a browser) decodes the COSE Receipts the library API verifies.
const ALLOWED_PACKAGES = new Set(['@noble/ed25519', '@noble/hashes', '@noble/post-quantum', '@noble/curves', 'zod', 'cborg']);

export async function buildVerifierPackage() {
  const out = `${root}packages/verify/dist`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common = { absWorkingDir: root, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning', metafile: true, legalComments: 'eof' };
  const results = await Promise.all([
    build({ ...common, entryPoints: { 'flashtrail-verify': 'packages/verify/src/main.ts' }, outdir: out, banner: { js: '#!/usr/bin/env node' } }),
    build({ ...common, entryPoints: { index: 'packages/verify/src/index.ts' }, outdir: out }),
    // The worker pool loads `./export-worker.js` next to the module that starts it (src/native/export-verifier.ts).
    build({ ...common, entryPoints: { 'export-worker': 'src/native/export-worker.ts' }, outdir: out }),
  ]);
  for (const { metafile } of results) {
    for (const input of Object.keys(metafile.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
      if (pkg ? !ALLOWED_PACKAGES.has(pkg) : !ALLOWED.some((re) => re.test(input))) {
        throw new Error(`the standalone verifier would bundle ${input}: it must hold nothing of the server and no native package (scripts/bundle.js ALLOWED)`);
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await buildVerifierPackage();
    if (!process.argv.includes('--package')) await Promise.all([buildVerifierPage(root), buildAppPage(root)]);
  } catch (error) {
    console.error(`bundle: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
