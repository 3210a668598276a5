/**
 * Every command, by name, with its one-line summary and how to load it. A command's module (under commands/)
 * is imported only when that command runs, so `flashtrail verify` never loads the server, the stores, the
 * KurrentDB client or serialport, and `flashtrail --help` loads no command at all.
 */
import type { CommandSpec } from './command.ts';

export interface CommandEntry {
  /** One word, or a group and a subcommand: `station run`. */
  readonly name: string;
  readonly summary: string;
  load(): Promise<{ readonly default: CommandSpec }>;
}

// `as never`: each module's default export is a CommandSpec of its own option types.
const entry = (name: string, summary: string, load: () => Promise<{ default: unknown }>): CommandEntry => ({ name, summary, load: load as never });

export const COMMANDS: readonly CommandEntry[] = [
  entry('demo', 'start a ledger, flash simulated units through it, print their state', () => import('./commands/demo.ts')),
  entry('simulate', "flash a simulated batch, print the ledger's scrap, yield and drift report", () => import('./commands/simulate.ts')),
  entry('serve', 'run the ledger API', () => import('./commands/serve.ts')),
  entry('init', 'create a data directory with an administrator key and token', () => import('./commands/init.ts')),
  entry('keys generate', 'create an Ed25519 key file (mode 0600), print its public key', () => import('./commands/keys-generate.ts')),
  entry('keys rotate', "replace the ledger's Ed25519 key, or with --ml-dsa its ML-DSA-44 key (ledger stopped); the next start announces it under the old one", () => import('./commands/keys-rotate.ts')),
  entry('keys backup', "copy the ledger's keys and trust files offline, durably, and verify the copy", () => import('./commands/keys-backup.ts')),
  entry('backup', 'a consistent online backup of the whole ledger into a new directory, verified', () => import('./commands/backup.ts')),
  entry('backup verify', "check a backup: each file's SHA-256 and the Merkle root against its signed checkpoint", () => import('./commands/backup-verify.ts')),
  entry('restore', 'a new data directory from a verified backup', () => import('./commands/restore.ts')),
  entry('tokens add', 'add a bearer token, print it once', () => import('./commands/tokens-add.ts')),
  entry('admin submit', 'sign and submit an administrative event', () => import('./commands/admin-submit.ts')),
  entry('station init', 'create a station key, print its registration', () => import('./commands/station-init.ts')),
  entry('station run', 'run the station agent (scanner, flash tools, outbox)', () => import('./commands/station-run.ts')),
  entry('station status', 'list the events pending in, delivered from and refused by the outbox', () => import('./commands/station-status.ts')),
  entry('station enroll', "create a station's key, token, registration and station.json in one step", () => import('./commands/station-enroll.ts')),
  entry('station release', "build a release's ReleaseApproved data from a recipe and its image files", () => import('./commands/station-release.ts')),
  entry('station rework', 'record that a unit was reworked (it is scanned again for its next pass)', () => import('./commands/station-rework.ts')),
  entry('station scrap', 'record that a unit is scrapped, with a reason', () => import('./commands/station-scrap.ts')),
  entry('station ship', 'record that a unit ships, with customer and order', () => import('./commands/station-ship.ts')),
  entry('station requeue', 'put events the ledger refused back in the queue, after fixing the cause', () => import('./commands/station-requeue.ts')),
  entry('sbom attach', "check a release's SBOM, keep it in the ledger and sign its SbomAttached", () => import('./commands/sbom-attach.ts')),
  entry('cra units', 'the shipped units carrying a component or affected by a vulnerability, as shipped or now', () => import('./commands/cra-units.ts')),
  entry('cra notify', "a vulnerability's notification list per customer (CSV, JSON, or signed by the ledger)", () => import('./commands/cra-notify.ts')),
  entry('cra clock', 'the Art. 14 reporting deadlines of each vulnerability, and what is overdue', () => import('./commands/cra-clock.ts')),
  entry('cra enisa', 'the content of the ENISA reporting form at one Art. 14 stage, to paste or attach', () => import('./commands/cra-enisa.ts')),
  entry('cra vex', 'the assessments as CSAF, OpenVEX or CycloneDX VEX, signed by the ledger', () => import('./commands/cra-vex.ts')),
  entry('cra tr03183', "the BSI TR-03183-2 report of a release's SBOM: each required field present or missing", () => import('./commands/cra-tr03183.ts')),
  entry('export', 'write a signed traceability export, and a CSV of it for people', () => import('./commands/export.ts')),
  entry('verify', 'verify a provenance document or an export offline', () => import('./commands/verify.ts')),
  entry('renew', 'extend an old provenance document or export to the newest hybrid-signed checkpoint (a renewal bundle)', () => import('./commands/renew.ts')),
  entry('firmware-units', 'the units carrying a firmware digest now and formerly, proved complete as of a checkpoint', () => import('./commands/firmware-units.ts')),
  entry('verify-consistency', 'verify that a checkpoint extends an older one (the log is append-only)', () => import('./commands/verify-consistency.ts')),
  entry('witness init', 'create a witness directory with its cosigning key, print its verifier key', () => import('./commands/witness-init.ts')),
  entry('witness add-log', 'witness one more log (never removed: re-adding one could cosign a fork)', () => import('./commands/witness-add-log.ts')),
  entry('witness serve', 'run a C2SP tlog-witness: cosign checkpoints consistent with the last', () => import('./commands/witness-serve.ts')),
  entry('monitor', "follow a ledger's checkpoints: signed, witnessed, each consistent with the last", () => import('./commands/monitor.ts')),
  entry('migrate', 'copy a ledger into KurrentDB/EventStoreDB, then compare Merkle roots', () => import('./commands/migrate.ts')),
  entry('projections rebuild', 'rebuild the read model and the Merkle log from the event log', () => import('./commands/projections-rebuild.ts')),
  entry('schemas generate', 'regenerate schemas/json from the zod schemas', () => import('./commands/schemas-generate.ts')),
];

/** The commands of a group (`station` → init, run, status), or an empty list. */
export function subcommandsOf(group: string): CommandEntry[] {
  return COMMANDS.filter((c) => c.name.startsWith(`${group} `));
}
