/** SCITT for flashtrail: COSE Receipts (RFC 9942) for logged entries, Signed and Transparent Statements (RFC 9943). */
export { encodeCbor, decodeCbor, CborError } from './cbor.ts';
export { ALG, CWT, HEADER, decodeSign1, signSign1, verifySign1, sigStructure, CoseError, type CoseSign1, type HeaderMap } from './cose.ts';
export { issueReceipt, verifyReceipt, coseKey, coseKeySet, parseScittKeySet, scittKeyForReceipt, VDS_RFC9162_SHA256, VDP_INCLUSION, type ScittKey, type ScittSigner, type VerifiedReceipt } from './receipt.ts';
export { signStatement, registeredForm, transparentStatement, verifyTransparentStatement, ENTRY_LABEL, PROVENANCE_CONTENT_TYPE, REGISTRATION_EVENT_TYPE, type VerifiedStatement } from './statement.ts';
export { ScittError, type ScittErrorCode } from './errors.ts';
