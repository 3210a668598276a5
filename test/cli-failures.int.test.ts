/**
 * Every expected failure of the compiled command line is one clear line on stderr and an exit status, never a
 * stack trace: a bad ledger key, an unreachable ledger, a missing serial port, missing, unreadable or malformed
 * files, key-file problems, a port in use, a bad setting.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, linesOf, runCli, type CliResult } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-cli-failures-'));
const data = join(dir, 'ledger');
let provenance: string;
let verifierKey: string;
/** A loopback port with nothing listening: connections are refused. */
let closedPort: number;
/** A loopback port something else listens on. */
let busy: Server;
let busyPort: number;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  // A real ledger's data directory and a real provenance document, from the demo.
  const demo = await runCli(['demo', '--units', '2', '--batch-units', '0', '--data', data]);
  expect(demo.code, demo.stderr).toBe(0);
  verifierKey = /ledger verifier key \(auditors pin this\): (\S+)/.exec(demo.stdout)?.[1] as string;
  provenance = /\$ flashtrail verify (\S+)/.exec(demo.stdout)?.[1] as string;
  const probe = createServer();
  closedPort = await listen(probe);
  await new Promise((r) => probe.close(r));
  busy = createServer();
  busyPort = await listen(busy);
  writeFileSync(join(dir, 'station-registered.json'), JSON.stringify({ stationId: 'ST-09', line: 'L2', site: 'Plant 2' }));
});

afterAll(async () => {
  await new Promise((r) => busy.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Exactly one line on stderr, that line matching `message`, no stack frame, the exit status given. */
function expectOneLineFailure(r: CliResult, code: number, message: RegExp): void {
  expect(r.stderr, r.stderr).not.toMatch(/^\s+at /m);
  expect(linesOf(r.stderr), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^flashtrail: /);
  expect(r.stderr).toMatch(message);
  expect(r.code).toBe(code);
}

describe('expected failures are one line and an exit status', () => {
  it('verify with a malformed ledger key names the option, not NoteError at parseVerifierKey', async () => {
    const r = await runCli(['verify', provenance, '--ledger-key', 'garbage']);
    expectOneLineFailure(r, 1, /--ledger-key is not a ledger verifier key: a verifier key is <name>\+<hex key id>\+<base64 key>$/m);
  });

  it('verify with a ledger key of the right shape but a wrong key id', async () => {
    // <name>+<id>+<base64 key>; the base64 may itself contain '+'.
    const [, name, key] = /^([^+]+)\+[^+]+\+(.+)$/.exec(verifierKey) as unknown as [string, string, string];
    const r = await runCli(['verify', provenance, '--ledger-key', `${name}+00000000+${key}`]);
    expectOneLineFailure(r, 1, /--ledger-key is not a ledger verifier key: verifier key: the key id does not match/);
  });

  it('verify with the key in a missing file names the file', async () => {
    const missing = join(dir, 'no-such-ledger.key');
    const r = await runCli(['verify', provenance, '--ledger-key', `@${missing}`]);
    expectOneLineFailure(r, 1, new RegExp(`cannot read the ledger key file: ${missing}: no such file or directory$`, 'm'));
  });

  it('verify of a missing document names it', async () => {
    const missing = join(dir, 'no-such-provenance.json');
    const r = await runCli(['verify', missing, '--ledger-key', verifierKey]);
    expectOneLineFailure(r, 1, new RegExp(`${missing}: no such file or directory$`, 'm'));
  });

  it('admin submit to an unreachable ledger: "cannot reach the ledger at URL: connection refused", not "TypeError: fetch failed"', async () => {
    const url = `http://127.0.0.1:${closedPort}`;
    const r = await runCli(['admin', 'submit', 'StationRegistered', join(dir, 'station-registered.json'), '--data', data, '--url', url]);
    expectOneLineFailure(r, 1, new RegExp(`cannot reach the ledger at ${url}: connection refused$`, 'm'));
  });

  it('admin submit to a host that does not resolve', async () => {
    const r = await runCli(['admin', 'submit', 'StationRegistered', join(dir, 'station-registered.json'), '--data', data, '--url', 'http://flashtrail-ledger.invalid:8080']);
    expectOneLineFailure(r, 1, /cannot reach the ledger at http:\/\/flashtrail-ledger\.invalid:8080: (host not found|host name lookup failed)$/m);
  });

  it('admin submit of a file that is not JSON names the file', async () => {
    const bad = join(dir, 'not-json.json');
    writeFileSync(bad, '{"stationId": "ST-09",');
    const r = await runCli(['admin', 'submit', 'StationRegistered', bad, '--data', data]);
    expectOneLineFailure(r, 1, new RegExp(`${bad} \\(the StationRegistered data\\) is not valid JSON: `));
  });

  it('admin submit of JSON from stdin that is not JSON says stdin', async () => {
    const r = await runCli(['admin', 'submit', 'StationRegistered', '-', '--data', data], { input: 'not json' });
    expectOneLineFailure(r, 1, /stdin \(the StationRegistered data\) is not valid JSON: /);
  });

  it('admin submit of JSON that is not the event type lists what is wrong, on one line', async () => {
    const wrong = join(dir, 'wrong-shape.json');
    writeFileSync(wrong, JSON.stringify({ stationId: 'ST 09' }));
    const r = await runCli(['admin', 'submit', 'StationRegistered', wrong, '--data', data]);
    expectOneLineFailure(r, 1, new RegExp(`${wrong} is not valid StationRegistered data: SCHEMA_INVALID: data\\.stationId: letters, digits.*; data\\.line: missing \\(expected string\\); data\\.site: missing \\(expected string\\); data\\.role: missing \\(expected one of "flash"\\|"repair"\\|"pack"\\|"fleet"\\)\n`));
  });

  it('admin submit of a release with a placeholder digest names the field and signs nothing', async () => {
    const release = JSON.parse(readFileSync(join(ROOT, 'examples', 'release.json'), 'utf8')) as { images: { sha256: string }[] };
    release.images[1]!.sha256 = '0'.repeat(64);
    const file = join(dir, 'zero-digest.json');
    writeFileSync(file, JSON.stringify(release));
    const r = await runCli(['admin', 'submit', 'ReleaseApproved', file, '--data', data]);
    expectOneLineFailure(r, 1, /is not valid ReleaseApproved data: SCHEMA_INVALID: data\.images\[1\]\.sha256: a digest of one repeated digit \(all zeros\) is a placeholder/);
  });

  it('simulate --url refuses to write to a ledger unless told to use ids of its own, and says what it would write', async () => {
    const r = await runCli(['simulate', '--url', `http://127.0.0.1:${closedPort}`, '--data', data, '--stations', '3']);
    expectOneLineFailure(r, 2, /simulate --url writes to that ledger, which never forgets: it would register 3 stations, a key and a token for each .* Give --own-ids to do so under ids of its own \(SIM-<run>-ST-01…, SIM-<run>-fw-3\.0\.0\)/);
  });

  it('admin submit of a missing data file names it', async () => {
    const missing = join(dir, 'no-such-data.json');
    const r = await runCli(['admin', 'submit', 'StationRegistered', missing, '--data', data]);
    expectOneLineFailure(r, 1, new RegExp(`cannot read the StationRegistered data: ${missing}: no such file or directory$`, 'm'));
  });

  it('admin submit with a missing token file names it', async () => {
    const missing = join(dir, 'no-such.token');
    const r = await runCli(['admin', 'submit', 'StationRegistered', join(dir, 'station-registered.json'), '--data', data, '--token-file', missing]);
    expectOneLineFailure(r, 1, new RegExp(`cannot read the token file: ${missing}: no such file or directory$`, 'm'));
  });

  it('key files: missing, readable by others, or not a key file', async () => {
    const payload = join(dir, 'station-registered.json');
    const missing = join(dir, 'no-such-admin.key');
    expectOneLineFailure(await runCli(['admin', 'submit', 'StationRegistered', payload, '--data', data, '--key', missing]), 1, new RegExp(`key file ${missing} does not exist$`, 'm'));

    const loose = join(dir, 'loose.key');
    copyFileSync(join(data, 'admin.key'), loose);
    chmodSync(loose, 0o644);
    expectOneLineFailure(await runCli(['admin', 'submit', 'StationRegistered', payload, '--data', data, '--key', loose]), 1, new RegExp(`key file ${loose} has mode 644; .*\\(chmod 600 ${loose}\\)$`, 'm'));

    const notAKey = join(dir, 'not-a.key');
    writeFileSync(notAKey, '{"hello": "world"}', { mode: 0o600 });
    expectOneLineFailure(await runCli(['admin', 'submit', 'StationRegistered', payload, '--data', data, '--key', notAKey]), 1, new RegExp(`key file ${notAKey} is empty or damaged \\(not a .* file\\): restore it from your backup$`, 'm'));

    const existing = join(data, 'admin.key');
    expectOneLineFailure(await runCli(['keys', 'generate', '--out', existing]), 1, /already exists; refusing to overwrite a key$/m);

    const noDir = join(dir, 'no-such-dir', 'new.key');
    expectOneLineFailure(await runCli(['keys', 'generate', '--out', noDir]), 1, new RegExp(`${noDir}: no such file or directory$`, 'm'));
  });

  it('a file the user may not read is named, with "permission denied"', async () => {
    // Root reads any file: as root, run the command as nobody (65534), for whom the file is unreadable.
    const asRoot = process.getuid?.() === 0;
    chmodSync(dir, 0o711); // the way to the file is open (not listable): the file itself is what is denied
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const secret = join(open, 'unreadable.json');
    writeFileSync(secret, '{}', { mode: 0o000 });
    const r = await runCli(['admin', 'submit', 'StationRegistered', secret, '--data', data], asRoot ? { uid: 65534, gid: 65534, cwd: open } : {});
    expectOneLineFailure(r, 1, new RegExp(`cannot read the StationRegistered data: ${secret}: permission denied$`, 'm'));
  });

  it('export to an unreachable ledger fails in one line and leaves no partial file', async () => {
    const out = join(dir, 'unreachable.ndjson');
    const url = `http://127.0.0.1:${closedPort}`;
    const r = await runCli(['export', '--out', out, '--batch', 'B-1', '--data', data, '--url', url]);
    expectOneLineFailure(r, 1, new RegExp(`cannot reach the ledger at ${url}: connection refused$`, 'm'));
    expect(existsSync(out)).toBe(false);
  });

  it('export into a directory that does not exist names the file before asking the ledger', async () => {
    const out = join(dir, 'no-such-dir', 'x.ndjson');
    const r = await runCli(['export', '--out', out, '--batch', 'B-1', '--data', data, '--url', `http://127.0.0.1:${closedPort}`]);
    expectOneLineFailure(r, 1, new RegExp(`${out}: no such file or directory$`, 'm'));
  });

  it('station run with a serial port that does not exist names the port', async () => {
    const station = join(dir, 'station');
    mkdirSync(station);
    expect((await runCli(['station', 'init', '--id', 'ST-01', '--key', join(station, 'st-01.key')])).code).toBe(0);
    writeFileSync(join(station, 'st-01.token'), 'ft_not-a-real-token\n', { mode: 0o600 });
    const config = JSON.parse(readFileSync(join(ROOT, 'station', 'examples', 'esp32s3-line', 'station.json'), 'utf8')) as { ledger: { url: string }; ports: { scanner: { path: string } } };
    config.ledger.url = `http://127.0.0.1:${closedPort}`;
    config.ports.scanner.path = join(station, 'no-such-tty');
    writeFileSync(join(station, 'station.json'), JSON.stringify(config));
    const r = await runCli(['station', 'run', '--config', join(station, 'station.json')]);
    expectOneLineFailure(r, 1, new RegExp(`ports\\.scanner\\.path: ${join(station, 'no-such-tty')}: no such file or directory`, 'im'));
  });

  it('station run with a missing configuration names the file; an invalid one lists its problems on one line', async () => {
    const missing = join(dir, 'no-such-station.json');
    expectOneLineFailure(await runCli(['station', 'run', '--config', missing]), 1, new RegExp(`${missing}: no such file or directory$`, 'm'));
    const invalid = join(dir, 'invalid-station.json');
    writeFileSync(invalid, JSON.stringify({ stationId: 'ST 01', ledger: { url: 'not a url' } }));
    expectOneLineFailure(await runCli(['station', 'status', '--config', invalid]), 1, /is not a valid station configuration: stationId: .*; ledger\.url: /);
  });

  it('serve on a port in use: "address already in use"', async () => {
    const r = await runCli(['serve', '--data', data, '--port', String(busyPort)], { env: { FLASHTRAIL_LOG_LEVEL: 'silent' } });
    expectOneLineFailure(r, 1, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}: address already in use$`, 'm'));
  });

  it('serve with an unknown FLASHTRAIL_STORE names the setting', async () => {
    const r = await runCli(['serve', '--data', data, '--port', '0'], { env: { FLASHTRAIL_STORE: 'mongodb' } });
    expectOneLineFailure(r, 1, /FLASHTRAIL_STORE must be sqlite, postgres or eventstoredb, not mongodb$/m);
  });

  it('serve with FLASHTRAIL_STORE=postgres and no URL names the missing setting', async () => {
    const r = await runCli(['serve', '--data', data, '--port', '0'], { env: { FLASHTRAIL_STORE: 'postgres' } });
    expectOneLineFailure(r, 1, /FLASHTRAIL_STORE=postgres needs FLASHTRAIL_POSTGRES_URL/);
  });

  it('an event store (KurrentDB) that is not there: migrate and serve say so in one line', async () => {
    const unreachable = `kurrentdb://127.0.0.1:${closedPort}?tls=false`;
    const migrate = await runCli(['migrate', '--from', `sqlite:${join(data, 'events.sqlite')}`, '--to', unreachable]);
    expectOneLineFailure(migrate, 1, new RegExp(`cannot reach the event store \\(KurrentDB / EventStoreDB\\): (.*ECONNREFUSED 127\\.0\\.0\\.1:${closedPort}|it does not answer)`));
    const serve = await runCli(['serve', '--data', data, '--port', '0'], { env: { FLASHTRAIL_STORE: 'eventstoredb', FLASHTRAIL_EVENTSTORE_CONNECTION_STRING: unreachable, FLASHTRAIL_LOG_LEVEL: 'silent' } });
    expectOneLineFailure(serve, 1, /cannot reach the event store \(KurrentDB \/ EventStoreDB\): /);
  });

  it('projections rebuild of a directory that is not a data directory does not create one', async () => {
    const empty = join(dir, 'not-a-data-dir');
    const r = await runCli(['projections', 'rebuild', '--data', empty]);
    expectOneLineFailure(r, 1, /events\.sqlite: no such file or directory \(is .* a data directory\?\)$/m);
    expect(existsSync(empty)).toBe(false);
  });

  it('verify-consistency with a proof file that is not JSON names it', async () => {
    const note = join(dir, 'checkpoint.note');
    writeFileSync(note, 'not a note\n');
    const proof = join(dir, 'proof.json');
    writeFileSync(proof, '[');
    const r = await runCli(['verify-consistency', note, note, '--ledger-key', verifierKey, '--proof', proof]);
    expectOneLineFailure(r, 1, new RegExp(`${proof} \\(the consistency proof\\) is not valid JSON`));
  });
});
