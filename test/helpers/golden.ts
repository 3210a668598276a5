/** The fixed inputs of test/vectors/golden-events.json: RFC 8032 TEST 1's key signing two chained events. */
import { fromHex } from '../../src/crypto/encoding.ts';
import { keyIdOf, publicKeyFromSecret } from '../../src/crypto/ed25519.ts';
import type { LedgerEvent } from '../../schemas/index.ts';

const secretKey = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const publicKey = publicKeyFromSecret(secretKey);
export const goldenSigner = { keyId: keyIdOf(publicKey), publicKey, secretKey };

export const goldenEvents = (firstDigest: string | null): LedgerEvent[] => [
  {
    id: '0b6c3b9e-5f0f-4a43-9d2c-8f1e2a7c4d10',
    type: 'UnitScanned',
    schemaVersion: 1,
    occurredAt: '2026-03-02T08:15:30.125Z',
    source: { kind: 'station', id: 'ST-01' },
    prev: null,
    data: {
      serial: 'SN0000001',
      batchId: 'B-2026-03-02',
      station: 'ST-01',
      operator: 'op-Ünal',
      productSku: 'SENSOR-S3',
      hardwareRevision: 'rev-C',
      mac: '24:0a:c4:12:34:56',
    },
  },
  {
    id: '5d0e8c57-1f62-4b6e-bb57-3c5f2f8a9e21',
    type: 'BootloaderWritten',
    schemaVersion: 1,
    occurredAt: '2026-03-02T08:15:41.000Z',
    source: { kind: 'station', id: 'ST-01' },
    prev: firstDigest,
    data: {
      serial: 'SN0000001',
      imageSha256: 'a'.repeat(64),
      version: 'bl-2.4.1',
      sizeBytes: 28672,
      signingKeyRef: 'SENSOR-S3-sb-key',
      signingKeyDigest: 'b'.repeat(64),
    },
  },
];
