/**
 * `import … from '@flashtrail/verify'`: the offline pipelines (src/verify) with the Node backend — OpenSSL
 * SHA-256 and strict Ed25519 (`nativeCrypto`, identical verdicts to `portableCrypto`) — and the export file
 * verifier that runs unit records on a worker-thread pool.
 */
export * from '../../../src/verify/index.ts';
export { nativeCrypto } from '../../../src/native/crypto.ts';
export { verifyExportFile, readLines, type VerifyExportFileOptions } from '../../../src/native/export-verifier.ts';
