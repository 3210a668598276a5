/**
 * A compact range (RFC 9162 §2.1 roots over appended leaves with O(log n) state): the perfect subtrees covering
 * the leaves so far, largest first. Used wherever a log is followed leaf by leaf without keeping it whole (the
 * unit history map's check against each checkpoint, a monitor's streaming audit). Pure: browser verifiers can use it.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { fromBase64, toBase64 } from '../crypto/encoding.ts';
import { EMPTY_ROOT, nodeHash, type Hash } from './hash.ts';

interface Subtree {
  readonly size: number;
  readonly hash: Hash;
}

export class CompactRange {
  private readonly nodes: Subtree[];

  constructor(nodes: readonly Subtree[] = [], private readonly crypto: CryptoBackend = portableCrypto) {
    this.nodes = [...nodes];
  }

  /** The number of leaves appended. */
  get size(): number {
    let n = 0;
    for (const node of this.nodes) n += node.size;
    return n;
  }

  append(leaf: Hash): void {
    this.nodes.push({ size: 1, hash: leaf });
    for (let n = this.nodes.length; n >= 2 && (this.nodes[n - 1] as Subtree).size === (this.nodes[n - 2] as Subtree).size; n = this.nodes.length) {
      const right = this.nodes.pop() as Subtree;
      const left = this.nodes.pop() as Subtree;
      this.nodes.push({ size: left.size * 2, hash: nodeHash(left.hash, right.hash, this.crypto) });
    }
  }

  root(): Hash {
    if (this.nodes.length === 0) return EMPTY_ROOT;
    let hash = (this.nodes[this.nodes.length - 1] as Subtree).hash;
    for (let i = this.nodes.length - 2; i >= 0; i--) hash = nodeHash((this.nodes[i] as Subtree).hash, hash, this.crypto);
    return hash;
  }

  /** `[[size, base64 hash], …]`, largest subtree first: the form persisted by the unit map and a monitor's state. */
  toJson(): string {
    return JSON.stringify(this.nodes.map((n) => [n.size, toBase64(n.hash)]));
  }

  static fromJson(text: string, crypto: CryptoBackend = portableCrypto): CompactRange {
    return new CompactRange((JSON.parse(text) as [number, string][]).map(([size, hash]) => ({ size, hash: fromBase64(hash) })), crypto);
  }
}
