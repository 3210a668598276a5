/**
 * `flashtrail station enroll`: a new station in one step, run by an administrator where the ledger's data
 * directory is (its admin key and token, its tokens.json):
 *
 *   1. the station's Ed25519 key (0600), never overwritten;
 *   2. a station token in the ledger's tokens.json (the running ledger picks it up), and a copy for the
 *      station (0600);
 *   3. StationRegistered (with the role) and StationKeyRegistered, signed with the admin key and appended;
 *   4. a station.json for the batch's release: the tool runs of every recipe step (station/templates.ts),
 *      the image, secret and template files it expects, the ports; written durably.
 *
 * Then `flashtrail station run --config <dir>/station.json` refuses to start until every file it names is
 * there and is the release's (the preflight says which).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { writeFileDurable } from '../src/files/durable.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient, LedgerClientError } from '../src/client/ledger-client.ts';
import { addToken } from '../src/api/tokens.ts';
import { isRecipeRelease, type ApprovedRelease } from '../src/domain/recipe.ts';
import { StationConfigError, StationConfigSchema } from './config.ts';
import { STATION_FILES, STATION_TOOLS } from './templates.ts';

export interface EnrollOptions {
  readonly stationId: string;
  readonly line: string;
  readonly site: string;
  readonly role: 'flash' | 'repair' | 'pack';
  readonly batchId: string;
  readonly ledgerUrl: string;
  /** The ledger's data directory: admin.key, admin.token, tokens.json. */
  readonly ledgerData: string;
  readonly tokensFile: string;
  /** Where the station's files go. */
  readonly dir: string;
  readonly devicePort: string;
  readonly scannerPort: string;
  readonly imagesDir?: string;
  readonly fixture?: string;
}

export async function enrollStation(o: EnrollOptions, out: (line: string) => void): Promise<string> {
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const configFile = join(dir, 'station.json');
  if (existsSync(configFile)) throw new StationConfigError(`${configFile} already exists; enroll into an empty directory`);
  const admin = new EventSigner(readSecretKeyFile(join(o.ledgerData, 'admin.key')), 'admin');
  const adminToken = readFileSync(join(o.ledgerData, 'admin.token'), 'utf8').trim();
  if (adminToken === '') throw new StationConfigError(`${join(o.ledgerData, 'admin.token')} is empty`);
  const adminClient = new LedgerClient(o.ledgerUrl, adminToken);

  // The batch first: nothing is created for a batch or release the station could not run.
  let release: ApprovedRelease;
  try {
    const batch = await adminClient.get<{ status: string; batch: { releaseId: string; line: string } }>(`/v1/batches/${encodeURIComponent(o.batchId)}`);
    if (batch.batch.line !== o.line) throw new StationConfigError(`batch ${o.batchId} runs on line ${batch.batch.line}, not ${o.line}`);
    release = (await adminClient.get<{ release: ApprovedRelease }>(`/v1/releases/${encodeURIComponent(batch.batch.releaseId)}`)).release;
  } catch (error) {
    if (error instanceof LedgerClientError && error.status === 404) throw new StationConfigError(`the ledger has no batch ${o.batchId}`);
    throw error;
  }
  if (!isRecipeRelease(release)) throw new StationConfigError(`release ${release.releaseId} has no recipe (a version 1 release); approve it as a recipe first`);
  const tools = STATION_TOOLS[release.recipe.id];
  if (o.role === 'flash' && !tools) throw new StationConfigError(`recipe ${release.recipe.id} is not one flashtrail ships (${Object.keys(STATION_TOOLS).join(', ')}): write its steps in station.json by hand`);

  const keyFile = join(dir, `${o.stationId}.key`);
  const key = newSigner();
  writeSecretKeyFile(keyFile, key, `flashtrail station ${o.stationId}`);
  out(`created ${keyFile} (mode 0600), key ${key.keyId.slice(0, 16)}…`);

  const stationStream = `station-${o.stationId}`;
  const head = await adminClient.get<{ digest: string | null }>(`/v1/streams/${encodeURIComponent(stationStream)}/head`);
  admin.setHead(stationStream, head.digest);
  const events = [
    ...(head.digest === null ? [admin.sign('StationRegistered', { stationId: o.stationId, line: o.line, site: o.site, role: o.role }).envelope] : []),
    admin.sign('StationKeyRegistered', { stationId: o.stationId, keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' }).envelope,
  ];
  await adminClient.appendAdmin(events);
  out(head.digest === null ? `registered station ${o.stationId} (${o.role}, line ${o.line}) and its key` : `station ${o.stationId} was registered already: registered its new key`);

  const token = addToken(o.tokensFile, { name: `station-${o.stationId}-${key.keyId.slice(0, 8)}`, role: 'station', stationId: o.stationId });
  const tokenFile = join(dir, `${o.stationId}.token`);
  writeFileDurable(tokenFile, token + '\n', { mode: 0o600, overwrite: false });
  out(`added a station token to ${o.tokensFile}; the station's copy is ${tokenFile} (mode 0600)`);

  const rel = (p: string) => relative(dir, resolve(p)) || '.';
  const files = STATION_FILES[release.recipe.id] ?? { secrets: [], templates: false };
  const imagesDir = o.imagesDir ?? join(dir, 'fw');
  const templates: Record<string, string> = {};
  if (files.templates) for (const s of release.recipe.steps) if (s.kind === 'provision') templates[s.templateId] = rel(join(imagesDir, `${s.templateId}.csv`));
  const config = {
    stationId: o.stationId,
    role: o.role,
    ...(o.fixture ? { fixture: o.fixture } : {}),
    keyFile: rel(keyFile),
    dataDir: 'station-data',
    ledger: { url: o.ledgerUrl, tokenFile: rel(tokenFile) },
    batchId: o.batchId,
    hardwareRevision: 'rev-A',
    ports: { scanner: { path: o.scannerPort, baudRate: 9600 }, ...(o.role === 'flash' ? { console: { path: o.devicePort, baudRate: 115200 } } : {}) },
    ...(o.role === 'flash'
      ? {
          images: Object.fromEntries(release.images.filter((i) => i.deliveredIn === undefined).map((i) => [i.name, rel(join(imagesDir, `${i.name}.bin`))])),
          secrets: Object.fromEntries(files.secrets.map((s) => [s, rel(join(dir, 'secrets', s))])),
          templates,
          steps: tools,
        }
      : {}),
    ...(o.role === 'pack' ? { shipping: { customer: 'CUSTOMER', orderRef: 'ORDER' } } : {}),
  };
  const checked = StationConfigSchema.safeParse(config);
  if (!checked.success) throw new Error(`enroll wrote an invalid station.json: ${checked.error.message}`);
  writeFileDurable(configFile, JSON.stringify(config, null, 2) + '\n', { mode: 0o644, overwrite: false });
  out(`wrote ${configFile} for batch ${o.batchId}, release ${release.releaseId} (recipe ${release.recipe.id})`);
  if (o.role === 'flash') {
    out(`next: put the release's images in ${imagesDir} (${Object.keys(config.images ?? {}).join(', ')})${files.secrets.length ? `, the secrets in ${join(dir, 'secrets')} (${files.secrets.join(', ')})` : ''}, check the ports, then`);
  }
  out(`  flashtrail station run --config ${configFile}`);
  return configFile;
}
