/**
 * The offline page's one script, which is also its Web Workers' script: in the page it runs the page
 * (page.ts), in a worker it verifies unit records (worker.ts). The workers start from a Blob of this very
 * script's text, so the verifier is in the HTML file once, not twice (its size is mostly @noble's Ed25519,
 * SHA-256 and ML-DSA-44 and the pipelines). esbuild keeps each branch's module unevaluated until its import.
 */
if (typeof document === 'undefined') void import('./worker.ts');
else void import('./page.ts');
