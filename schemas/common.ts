import { z } from 'zod';

/** Identifiers that end up in stream names and URLs: conservative on purpose. */
export const Identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'letters, digits and . _ : - only, 1-64 characters');

export const Serial = Identifier.describe('Unit serial number as printed on its label');
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256 digest');
export const KeyId = Sha256Hex.describe('hex SHA-256 of the raw 32-byte Ed25519 public key');
export const PublicKeyHex = z.string().regex(/^[0-9a-f]{64}$/, 'raw 32-byte Ed25519 public key, lowercase hex');
export const Timestamp = z.iso.datetime({ offset: false, precision: 3 }).describe('UTC, millisecond precision, e.g. 2026-01-31T12:00:00.000Z');
export const ShortText = z.string().min(1).max(200);
export const LongText = z.string().max(2000);
export const Version = z.string().min(1).max(64);
export const MacAddress = z.string().regex(/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/, 'lowercase colon-separated MAC address');
