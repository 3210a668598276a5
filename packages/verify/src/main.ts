/**
 * `flashtrail-verify`: the offline checks of `flashtrail verify` and `flashtrail verify-consistency`, as a
 * package of its own for those who receive the evidence (auditors, customers, market surveillance). It runs the
 * very command modules of the flashtrail CLI, bundled with the Node crypto backend and the worker pool by
 * scripts/bundle.js, so that its steps, codes, messages and exit statuses are those of `flashtrail verify` by
 * construction, not by a second implementation that could drift.
 */
import { readFileSync } from 'node:fs';
import { parseCommandArgs, renderCommandHelp, wantsHelp, type CommandSpec } from '../../../src/cli/command.ts';
import { CliError, UsageError, describeExpectedFailure } from '../../../src/cli/errors.ts';
import verify from '../../../src/cli/commands/verify.ts';
import consistency from '../../../src/cli/commands/verify-consistency.ts';

const PROGRAM = 'flashtrail-verify';

interface Entry {
  /** The command's name in the flashtrail CLI, which its messages use. */
  readonly cliName: string;
  readonly summary: string;
  readonly spec: CommandSpec;
}

const VERIFY: Entry = { cliName: 'verify', summary: 'verify a provenance document or an export offline, against the ledger key you pinned', spec: verify as unknown as CommandSpec };
const CONSISTENCY: Entry = { cliName: 'verify-consistency', summary: 'verify that a checkpoint extends an older one (the log is append-only)', spec: consistency as unknown as CommandSpec };

/** The flashtrail CLI's wording, in this program's name: `flashtrail verify-consistency` is `flashtrail-verify consistency`. */
function ours(text: string): string {
  return text.replaceAll('flashtrail verify-consistency', `${PROGRAM} consistency`).replaceAll('flashtrail verify', PROGRAM);
}

function version(): string {
  const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return json.version ?? '0.0.0';
}

/** The verify command's help, the consistency check's synopsis, and what the exit statuses mean. */
function topHelp(): string {
  return [
    ours(renderCommandHelp(VERIFY.spec, VERIFY.cliName, VERIFY.summary)),
    '',
    `also: ${PROGRAM} consistency OLD NEW --ledger-key KEY|@FILE (--proof FILE | --url URL) [--json]`,
    `      that a newer checkpoint extends an older one (see ${PROGRAM} consistency --help)`,
    '',
    'Trusts nothing but the ledger verifier key you pinned out of band. Exit status: 0 verified, 1 not verified',
    '(the failing step and its code are printed), 2 usage error.',
  ].join('\n');
}

/** The command whose --help a usage error points to: '' for verify, ' consistency'. */
let helpFor = '';

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    console.log(topHelp());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    console.log(version());
    return 0;
  }
  const [entry, args] = first === 'consistency' ? [CONSISTENCY, rest] : [VERIFY, argv];
  helpFor = entry === CONSISTENCY ? ' consistency' : '';
  if (wantsHelp(args)) {
    console.log(ours(renderCommandHelp(entry.spec, entry.cliName, entry.summary)));
    return 0;
  }
  return entry.spec.run(parseCommandArgs(entry.spec, entry.cliName, args), { name: entry.cliName });
}

/** As the flashtrail CLI reports (src/cli/main.ts): usage 2, expected failure one line and 1, a bug a stack. */
function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`${PROGRAM}: ${ours(error.message)}; see ${PROGRAM}${helpFor} --help`);
    return 2;
  }
  const line = describeExpectedFailure(error);
  if (line !== null) {
    console.error(`${PROGRAM}: ${line}`);
    return error instanceof CliError ? error.exitCode : 1;
  }
  console.error(`${PROGRAM}: unexpected error (a bug: please report it with what follows)`);
  console.error(error);
  return 1;
}

function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(exit, (error: unknown) => exit(report(error)));
