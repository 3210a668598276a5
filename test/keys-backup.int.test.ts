/**
 * The keys are backed up before they are needed: init says so in plain words, `keys backup` copies and verifies,
 * refuses to overwrite or to back up into the data directory, records the backup, and serve warns until it has.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { oneLineFailure, runCli } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-backup-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const noBackupWarning = /"level":40.*"msg":"no backup of .*ledger\.key and .*admin\.key(?: and [^ ]+)? is recorded: they are the log's identity and its administrator; copy them offline now \(flashtrail keys backup --to DIR\)"/;

describe('key backups', () => {
  it('init tells the operator, in plain words, to copy ledger.key and admin.key offline now', async () => {
    const data = join(root, 'told');
    const r = await runCli(['init', '--data', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ledger\.key and admin\.key are this ledger's identity/);
    expect(r.stdout).toMatch(/Copy them offline now/);
    expect(r.stdout).toContain(`flashtrail keys backup --data ${data} --to `);
  });

  it('backs up, verifies, records; serve warns before and not after; a second backup to the same place is a no-op', async () => {
    const data = join(root, 'ledger');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const before = await spawnLedger(data);
    await before.kill('SIGTERM');
    expect(before.output()).toMatch(noBackupWarning);

    const to = join(root, 'usb', 'flashtrail-2026-12-01');
    const r = await runCli(['keys', 'backup', '--data', data, '--to', to]);
    expect(r.code, r.stderr).toBe(0);
    for (const name of ['ledger.key', 'ledger-ml-dsa.key', 'admin.key', 'unit-map.key', 'ledger.json', 'admin-keys.json', 'tokens.json']) {
      expect(readFileSync(join(to, name)), name).toEqual(readFileSync(join(data, name)));
      expect(statSync(join(to, name)).mode & 0o777, name).toBe(0o600);
      expect(r.stdout).toMatch(new RegExp(`copied +${name.replace('.', '\\.')} +sha256 [0-9a-f]{64}.* verified`));
    }
    expect(statSync(to).mode & 0o777).toBe(0o700);
    expect(r.stdout).toMatch(new RegExp(`backed up 7 files to ${to}; recorded in ${join(data, 'backups.json')}`));
    const record = JSON.parse(readFileSync(join(data, 'backups.json'), 'utf8')) as { backups: { to: string; files: { name: string }[] }[] };
    expect(record.backups).toHaveLength(1);
    expect(record.backups[0]?.to).toBe(to);

    const after = await spawnLedger(data);
    await after.kill('SIGTERM');
    expect(after.output()).not.toMatch(noBackupWarning);

    const again = await runCli(['keys', 'backup', '--data', data, '--to', to]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/present +ledger\.key/);
  });

  it('never overwrites a different file in the backup directory, and never backs up into the data directory', async () => {
    const data = join(root, 'other');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const to = join(root, 'occupied');
    mkdirSync(to, { mode: 0o700 });
    writeFileSync(join(to, 'ledger.key'), 'an older ledger key\n', { mode: 0o600 });
    const r = await runCli(['keys', 'backup', '--data', data, '--to', to]);
    const f = oneLineFailure(r);
    expect([f.code, f.lines, f.stackFrames]).toEqual([1, 1, false]);
    expect(f.line).toBe(`flashtrail: ${join(to, 'ledger.key')} already exists with other content: a backup is never overwritten; back up to an empty directory`);
    expect(readFileSync(join(to, 'ledger.key'), 'utf8')).toBe('an older ledger key\n');
    expect(existsSync(join(data, 'backups.json'))).toBe(false);

    const inside = await runCli(['keys', 'backup', '--data', data, '--to', join(data, 'backup')]);
    expect(oneLineFailure(inside).line).toBe(`flashtrail: ${join(data, 'backup')} is inside the data directory ${data}: a backup there is lost with it; back up to another disk`);
  });

  it('a key that changed since the last backup is warned about again', async () => {
    const data = join(root, 'changed');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    expect((await runCli(['keys', 'backup', '--data', data, '--to', join(root, 'changed-backup')])).code).toBe(0);
    // The administrator key is replaced (by hand, as a key rotation would): the backup holds the old one.
    rmSync(join(data, 'admin.key'));
    expect((await runCli(['keys', 'generate', '--out', join(data, 'admin.key')])).code).toBe(0);
    chmodSync(join(data, 'admin.key'), 0o600);
    const server = await spawnLedger(data);
    await server.kill('SIGTERM');
    expect(server.output()).toMatch(/"msg":"no backup of [^"]*admin\.key is recorded/);
    expect(server.output()).not.toMatch(/"msg":"no backup of [^"]*ledger\.key/);
  });
  it('copies the keys a rotation replaced (ledger.key.<key id>, ledger-ml-dsa.key.<key id>), 0600, byte for byte, and refuses one whose name lies', async () => {
    const data = join(root, 'rotated');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const rotated = await runCli(['keys', 'rotate', '--data', data]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { previousKeyId } = JSON.parse(rotated.stdout) as { previousKeyId: string };
    // A replaced ML-DSA-44 key is kept the same way, under its own key id.
    const mlDsaKeyId = (JSON.parse(readFileSync(join(data, 'ledger.json'), 'utf8')) as { mlDsaKeyId: string }).mlDsaKeyId;
    copyFileSync(join(data, 'ledger-ml-dsa.key'), join(data, `ledger-ml-dsa.key.${mlDsaKeyId}`));
    chmodSync(join(data, `ledger-ml-dsa.key.${mlDsaKeyId}`), 0o600);

    const to = join(root, 'rotated-backup');
    const r = await runCli(['keys', 'backup', '--data', data, '--to', to]);
    expect(r.code, r.stderr).toBe(0);
    for (const name of [`ledger.key.${previousKeyId}`, `ledger-ml-dsa.key.${mlDsaKeyId}`]) {
      expect(readFileSync(join(to, name)), name).toEqual(readFileSync(join(data, name)));
      expect(statSync(join(to, name)).mode & 0o777, name).toBe(0o600);
    }
    expect(r.stdout).toMatch(new RegExp(`copied +ledger\\.key\\.${previousKeyId} +sha256 [0-9a-f]{64}  key ${previousKeyId}  verified`));
    expect(r.stdout).toMatch(new RegExp(`copied +ledger-ml-dsa\\.key\\.${mlDsaKeyId} +sha256 [0-9a-f]{64}  key ${mlDsaKeyId}  verified`));
    expect(r.stdout).toMatch(/backed up 9 files/);
    const manifest = JSON.parse(readFileSync(join(to, 'flashtrail-backup.json'), 'utf8')) as { files: { name: string; keyId?: string }[] };
    expect(manifest.files).toContainEqual(expect.objectContaining({ name: `ledger.key.${previousKeyId}`, keyId: previousKeyId }));

    // A file named for one key that holds another is not the replaced key it claims to be.
    const liar = `ledger.key.${'0'.repeat(64)}`;
    copyFileSync(join(data, 'admin.key'), join(data, liar));
    chmodSync(join(data, liar), 0o600);
    const refused = oneLineFailure(await runCli(['keys', 'backup', '--data', data, '--to', join(root, 'rotated-backup-2')]));
    expect([refused.code, refused.lines, refused.stackFrames]).toEqual([1, 1, false]);
    expect(refused.line).toMatch(new RegExp(`^flashtrail: ${join(data, liar)} holds key [0-9a-f]{64}, not the 0{64} its name says`));
  });
});
