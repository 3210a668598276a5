/**
 * Witness policies in the format of C2SP tlog-policy (https://c2sp.org/tlog-policy, imported from Sigsum):
 * which witnesses a verifier trusts and how many of them must have cosigned a checkpoint before it counts as
 * published. Line-based; `#` starts a comment; blank lines are ignored:
 *
 *   log <vkey> [<url>]
 *   witness <name> <cosigner vkey> [<url>]
 *   group <name> all|any|<k> <member>...
 *   quorum <name>|none
 *
 * Exactly one quorum line; groups and the quorum name only witnesses and groups defined above them (so there
 * are no cycles); a member appears once per group; 1 <= k <= members. We accept Ed25519 cosignature/v1
 * witness keys (type 0x04) and Ed25519 log keys (type 0x01). Pure.
 */
import { parseVerifierKey, type NoteKey } from './note.ts';
import { parseCosignerKey, type CosignerKey } from './cosignature.ts';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

export interface PolicyWitness {
  readonly name: string;
  readonly key: CosignerKey;
  readonly url: string | null;
}

export interface PolicyGroup {
  readonly name: string;
  /** How many members must be satisfied. */
  readonly threshold: number;
  readonly members: readonly string[];
}

export interface WitnessPolicy {
  readonly logs: readonly { key: NoteKey; url: string | null }[];
  readonly witnesses: readonly PolicyWitness[];
  readonly groups: readonly PolicyGroup[];
  /** The witness or group that must be satisfied, or null for `quorum none`. */
  readonly quorum: string | null;
}

/** Bounds a hostile policy file cannot exceed; the spec asks implementations to support at least 32 of each. */
const MAX_ENTRIES = 1024;

export function parseWitnessPolicy(text: string): WitnessPolicy {
  const logs: { key: NoteKey; url: string | null }[] = [];
  const witnesses = new Map<string, PolicyWitness>();
  const groups = new Map<string, PolicyGroup>();
  const publicKeys = new Set<string>();
  let quorum: string | null | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const at = `policy line ${i + 1}`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(raw.replace(/\r$/, ''))) throw new PolicyError(`${at}: control characters are not allowed`);
    const line = raw.replace(/\r$/, '').replace(/#.*$/, '').trim();
    if (line === '') return;
    const [keyword, ...args] = line.split(/[ \t]+/);
    if (logs.length + witnesses.size + groups.size > MAX_ENTRIES) throw new PolicyError(`${at}: more than ${MAX_ENTRIES} entries`);
    const unique = (publicKey: Uint8Array, what: string) => {
      const id = [...publicKey].map((b) => b.toString(16).padStart(2, '0')).join('');
      if (publicKeys.has(id)) throw new PolicyError(`${at}: ${what} reuses a public key already in the policy`);
      publicKeys.add(id);
    };
    const defined = (name: string) => witnesses.has(name) || groups.has(name);
    if (quorum !== undefined) throw new PolicyError(`${at}: nothing may follow the quorum line`);
    switch (keyword) {
      case 'log': {
        if (args.length < 1 || args.length > 2) throw new PolicyError(`${at}: log <vkey> [<url>]`);
        let key: NoteKey;
        try {
          key = parseVerifierKey(args[0] as string);
        } catch (error) {
          throw new PolicyError(`${at}: ${(error as Error).message}`);
        }
        unique(key.publicKey, `log ${key.name}`);
        logs.push({ key, url: args[1] ?? null });
        return;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) throw new PolicyError(`${at}: witness <name> <vkey> [<url>]`);
        const name = args[0] as string;
        if (defined(name)) throw new PolicyError(`${at}: ${name} is already defined`);
        let key: CosignerKey;
        try {
          key = parseCosignerKey(args[1] as string);
        } catch (error) {
          throw new PolicyError(`${at}: ${(error as Error).message}`);
        }
        unique(key.publicKey, `witness ${name}`);
        witnesses.set(name, { name, key, url: args[2] ?? null });
        return;
      }
      case 'group': {
        if (args.length < 3) throw new PolicyError(`${at}: group <name> all|any|<k> <member>...`);
        const [name, k, ...members] = args as [string, string, ...string[]];
        if (defined(name)) throw new PolicyError(`${at}: ${name} is already defined`);
        for (const m of members) if (!defined(m)) throw new PolicyError(`${at}: group ${name} names ${m}, which is not defined above it`);
        if (new Set(members).size !== members.length) throw new PolicyError(`${at}: group ${name} lists a member twice`);
        const threshold = k === 'all' ? members.length : k === 'any' ? 1 : /^[1-9][0-9]*$/.test(k) ? Number(k) : NaN;
        if (!(threshold >= 1 && threshold <= members.length)) throw new PolicyError(`${at}: group ${name}: the threshold must be all, any or 1 to ${members.length}, not ${k}`);
        groups.set(name, { name, threshold, members });
        return;
      }
      case 'quorum': {
        if (args.length !== 1) throw new PolicyError(`${at}: quorum <name>|none`);
        const name = args[0] as string;
        if (name !== 'none' && !defined(name)) throw new PolicyError(`${at}: quorum ${name} is not defined above it`);
        quorum = name === 'none' ? null : name;
        return;
      }
      default:
        throw new PolicyError(`${at}: unknown keyword ${JSON.stringify(keyword)} (log, witness, group or quorum)`);
    }
  });
  if (quorum === undefined) throw new PolicyError('the policy has no quorum line');
  return { logs, witnesses: [...witnesses.values()], groups: [...groups.values()], quorum };
}

/** Whether the witnesses that cosigned satisfy the policy's quorum. */
export function quorumMet(policy: WitnessPolicy, cosigned: ReadonlySet<string>): boolean {
  if (policy.quorum === null) return true;
  const memo = new Map<string, boolean>();
  const satisfied = (name: string): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const group = policy.groups.find((g) => g.name === name);
    const result = group ? group.members.filter(satisfied).length >= group.threshold : cosigned.has(name);
    memo.set(name, result);
    return result;
  };
  return satisfied(policy.quorum);
}

/** The quorum in words, for reports: `2 of [w1, w2, w3]`, nested groups in brackets. */
export function describeQuorum(policy: WitnessPolicy): string {
  if (policy.quorum === null) return 'none';
  const describe = (name: string): string => {
    const group = policy.groups.find((g) => g.name === name);
    if (!group) return name;
    return `${group.threshold === group.members.length ? 'all' : group.threshold} of [${group.members.map(describe).join(', ')}]`;
  };
  return describe(policy.quorum);
}
