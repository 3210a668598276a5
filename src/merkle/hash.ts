/**
 * RFC 6962 / RFC 9162 Merkle tree hashing. Pure, no Node-only dependencies: verifiers in a browser use it too.
 *   leaf  = SHA-256(0x00 || data)
 *   node  = SHA-256(0x01 || left || right)
 *   empty = SHA-256("")
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { concatBytes } from '../crypto/encoding.ts';

export type Hash = Uint8Array;

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);

/**
 * One buffer for the input (0x00 || data) of every leaf up to 64 KiB (an event is a few KiB; verifiers and the log
 * hash one per event), on the same terms as nodeInput; a larger leaf gets its own array, so nothing large is kept.
 */
const leafInput = new Uint8Array(65_537);

export function leafHash(data: Uint8Array, crypto: CryptoBackend = portableCrypto): Hash {
  if (data.length >= leafInput.length) return crypto.sha256(concatBytes(LEAF_PREFIX, data));
  leafInput.set(data, 1);
  return crypto.sha256(leafInput.subarray(0, data.length + 1));
}

/**
 * One buffer for every node's input: proofs and trees hash millions of nodes, and a new 65-byte array for each
 * was most of what they allocated. Safe because hashing is synchronous and no backend keeps its input.
 */
const nodeInput = new Uint8Array(65);
nodeInput[0] = 1;

export function nodeHash(left: Hash, right: Hash, crypto: CryptoBackend = portableCrypto): Hash {
  if (left.length !== 32 || right.length !== 32) return crypto.sha256(concatBytes(NODE_PREFIX, left, right));
  nodeInput.set(left, 1);
  nodeInput.set(right, 33);
  return crypto.sha256(nodeInput);
}

export const EMPTY_ROOT: Hash = portableCrypto.sha256(new Uint8Array(0));

/** Largest power of two strictly less than n (n >= 2), the split point of RFC 6962 §2.1. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export function hashesEqual(a: Hash, b: Hash): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number);
  return d === 0;
}
