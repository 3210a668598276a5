import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of the code base, lowest first. A folder may import from the folders before it, never from
 * those after it, so dependencies point one way. `pure` layers run in a browser: no `node:` modules and
 * no native or server packages.
 */
const LAYERS = [
  { dir: 'schemas', pure: true },
  { dir: 'src/crypto', pure: true },
  { dir: 'src/merkle', pure: true },
  { dir: 'src/tlog', pure: true },
  { dir: 'src/scitt', pure: true },
  { dir: 'src/event', pure: true },
  { dir: 'src/domain', pure: true },
  { dir: 'src/verify', pure: true },
  { dir: 'src/cra', pure: true },
  { dir: 'projections', pure: true },
  { dir: 'src/cfx', pure: true },
  { dir: 'src/native' },
  { dir: 'src/files' },
  // HTTP plumbing shared by the witness and the ledger API (bounded request bodies).
  { dir: 'src/http' },
  { dir: 'src/witness' },
  { dir: 'src/client' },
  { dir: 'src/store' },
  { dir: 'src/read' },
  { dir: 'src/plant' },
  { dir: 'src/write' },
  { dir: 'src/evidence' },
  // The web pages: their browser code (bundled by scripts/bundle-page.js) and the Node side that serves them.
  { dir: 'src/web' },
  { dir: 'src/api' },
  { dir: 'src/server' },
  { dir: 'src/sim' },
  { dir: 'station' },
  { dir: 'src/cli' },
];

/** Packages a pure layer must not import: Node-only, native or server-side. */
const NODE_ONLY_PACKAGES = ['better-sqlite3', 'pg', 'pg-*', 'serialport', '@serialport/*', '@kurrent/*', 'hono', 'hono/*', '@hono/*', 'pino', 'tsx', 'tsx/*', 'rhea'];

const folderName = (dir) => dir.split('/').pop();
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function layerRules(index) {
  const { dir, pure } = LAYERS[index];
  const above = LAYERS.slice(index + 1);
  const patterns = [
    {
      // Relative imports name the folder they reach into: `../store/…`, `../../src/api/…`.
      regex: `(^|/)(${above.map((l) => escape(folderName(l.dir))).join('|')})/`,
      message: `${dir} may import only from layers below it (${LAYERS.slice(0, index).map((l) => l.dir).join(', ') || 'none'}); see LAYERS in eslint.config.js`,
    },
  ];
  if (pure) {
    patterns.push({ regex: '^node:', message: `${dir} must run in a browser: no node: modules (Node-only code goes in src/native or higher)` });
    patterns.push({ group: NODE_ONLY_PACKAGES, message: `${dir} must run in a browser: no native or server packages` });
  }
  return {
    files: [`${dir}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns }],
      ...(pure ? { 'no-restricted-globals': ['error', { name: 'Buffer', message: `${dir} must run in a browser: use Uint8Array` }, { name: 'process', message: `${dir} must run in a browser` }] } : {}),
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'dist/', 'packages/*/dist/', 'test-results/', 'schemas/json/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', performance: 'readonly', fetch: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', crypto: 'readonly', structuredClone: 'readonly', AbortController: 'readonly', atob: 'readonly', btoa: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  ...LAYERS.map((_, i) => layerRules(i)),
);

export { LAYERS };
