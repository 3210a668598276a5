/**
 * The bearer-token list's format (tokens.json, or FLASHTRAIL_TOKENS inline): names, roles and the SHA-256 of
 * each token, never a token itself. Kept apart from the API's token store so that the configuration can
 * validate FLASHTRAIL_TOKENS without loading the server.
 */
import { z } from 'zod';
import { Identifier } from '../../schemas/common.ts';

export const TokenEntry = z
  .strictObject({
    name: z.string().min(1).max(100),
    role: z.enum(['station', 'auditor', 'admin']),
    stationId: Identifier.optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .refine((t) => (t.role === 'station') === (t.stationId !== undefined), { message: 'station tokens, and only they, name a stationId' });

export const TokenFile = z.strictObject({ tokens: z.array(TokenEntry) });
export type TokenEntry = z.infer<typeof TokenEntry>;
