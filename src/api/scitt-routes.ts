/**
 * SCITT routes (draft-ietf-scitt-scrapi where it fits), mounted at the API's root:
 *   GET /.well-known/scitt-keys         the COSE_KeySet of the ledger's key chain, each key with the tree sizes it
 *                                       signs (application/cbor); public
 *   GET /entries/{leaf index}           the COSE Receipt of that logged entry (application/scitt-receipt+cose)
 *   GET /statements/{serial}            a shipped unit's Transparent Statement (application/scitt-statement+cose),
 *                                       registered on first request
 *   GET /statements/{serial}/provenance the provenance document it digests (its JCS bytes)
 * Registration by third parties (SCRAPI's POST /entries) is not offered: the ledger registers only what it
 * issues itself. Errors are the API's problem documents with stable codes.
 */
import { Hono } from 'hono';
import { bearerAuth, requireRole, type AppEnv } from './middleware.ts';
import { problem } from './problem.ts';
import type { TokenSource } from './tokens.ts';
import { Identifier } from '../../schemas/common.ts';
import { ledgerKeySet, receiptAt, statementProvenance, unitTransparentStatement, type ScittDeps } from '../evidence/scitt.ts';

export const RECEIPT_MEDIA_TYPE = 'application/scitt-receipt+cose';
export const STATEMENT_MEDIA_TYPE = 'application/scitt-statement+cose';

const cose = (bytes: Uint8Array, type: string) => new Response(new Uint8Array(bytes), { status: 200, headers: { 'Content-Type': type, 'Content-Length': String(bytes.length) } });

export function scittRoutes(deps: ScittDeps & { tokens: TokenSource }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Read from the log's key chain on each request (a handful of records), not from the keys this process holds:
  // after a rotation and a restart it holds the new key alone, and receipts by the old one must still find theirs.
  app.get('/.well-known/scitt-keys', async () => cose(await ledgerKeySet(deps), 'application/cbor'));

  const auth = bearerAuth(deps.tokens);
  app.get('/entries/:id', auth, async (c) => {
    const id = c.req.param('id');
    const index = Number(id);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(id) || !Number.isSafeInteger(index)) return problem(c, 'NOT_FOUND', `${id} is not an entry id (a leaf index)`);
    const found = await receiptAt(deps, index);
    if (!found) return problem(c, 'NOT_FOUND', `the log has no entry ${index}`);
    c.header('X-Tree-Size', String(found.size));
    return cose(found.receipt, RECEIPT_MEDIA_TYPE);
  });

  const serialOf = (value: string) => {
    const parsed = Identifier.safeParse(value);
    return parsed.success ? parsed.data : null;
  };
  app.get('/statements/:serial', auth, requireRole('auditor', 'admin'), async (c) => {
    const serial = serialOf(c.req.param('serial'));
    if (!serial) return problem(c, 'NOT_FOUND', 'not a serial');
    const statement = await unitTransparentStatement(deps, serial);
    if (!statement) return problem(c, 'NOT_FOUND', `unit ${serial} has not shipped: statements are issued for shipped units`);
    return cose(statement, STATEMENT_MEDIA_TYPE);
  });
  app.get('/statements/:serial/provenance', auth, requireRole('auditor', 'admin'), async (c) => {
    const serial = serialOf(c.req.param('serial'));
    if (!serial) return problem(c, 'NOT_FOUND', 'not a serial');
    const doc = await statementProvenance(deps, serial);
    if (!doc) return problem(c, 'NOT_FOUND', `unit ${serial} has no registered statement`);
    return new Response(new Uint8Array(doc), { status: 200, headers: { 'Content-Type': 'application/json' } });
  });
  return app;
}
