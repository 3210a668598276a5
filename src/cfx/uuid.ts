/**
 * Name-based UUIDs (RFC 9562 §5.5, version 5): the same name always gives the same UUID, so a message derived
 * from a ledger event has one UniqueID however often it is published, and a consumer can drop the duplicates
 * that at-least-once delivery brings. SHA-1 is what version 5 is defined with; it names, it does not protect.
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { fromHex, toHex, utf8 } from '../crypto/encoding.ts';

/** RFC 9562 §6.6: the namespace for names that are URLs. */
export const NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

export function uuidV5(namespace: string, name: string): string {
  const ns = fromHex(namespace.replace(/-/g, ''));
  if (ns.length !== 16) throw new Error(`${namespace} is not a UUID`);
  const input = new Uint8Array(16 + utf8(name).length);
  input.set(ns, 0);
  input.set(utf8(name), 16);
  const hash = sha1(input).slice(0, 16);
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = toHex(hash);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** flashtrail's namespace for CFX identifiers: uuidV5(NAMESPACE_URL, 'https://flashtrail.dev/cfx'). */
export const CFX_NAMESPACE = uuidV5(NAMESPACE_URL, 'https://flashtrail.dev/cfx');

/** The UUID named `name` in flashtrail's CFX namespace, e.g. `<event id>/CFX.Production.WorkStarted`. */
export const cfxUuid = (name: string): string => uuidV5(CFX_NAMESPACE, name);
