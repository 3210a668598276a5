#!/usr/bin/env node
/**
 * The `flashtrail` command line: finds the command in the registry, imports that command's module alone, and
 * runs it. Exit status 0 done, 1 failed, 2 usage error; an expected failure is one line on stderr.
 */
import { parseCommandArgs, renderCommandHelp, wantsHelp } from './command.ts';
import { CliError, UsageError, describeExpectedFailure } from './errors.ts';
import { renderGroupHelp, renderSubcommandsOf, renderTopHelp } from './help.ts';
import { packageInfo } from './package-info.ts';
import { COMMANDS, subcommandsOf, type CommandEntry } from './registry.ts';

/** The command whose --help a usage error points to; '' for flashtrail itself. */
let helpFor = '';

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    console.log(renderTopHelp(packageInfo().version));
    return 0;
  }
  if (first === 'help') return rest.length === 0 ? main([]) : main([...rest, '--help']);
  if (first === '--version' || first === '-V') {
    console.log(packageInfo().version);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${first} for \`flashtrail\``);

  let entry: CommandEntry | undefined = COMMANDS.find((c) => c.name === first);
  let args = rest;
  // A command may also head a group (`backup DIR`, `backup verify DIR`): a known subcommand name wins.
  const sub = entry && rest[0] !== undefined ? subcommandsOf(first).find((c) => c.name === `${first} ${rest[0] as string}`) : undefined;
  if (sub) {
    entry = sub;
    args = rest.slice(1);
  }
  if (entry === undefined) {
    const subcommands = subcommandsOf(first);
    if (subcommands.length === 0) throw new UsageError(`unknown command ${first}`);
    helpFor = first;
    const [sub, ...subArgs] = rest;
    const names = subcommands.map((c) => c.name.slice(first.length + 1));
    if (sub === '--help' || sub === '-h') {
      console.log(renderGroupHelp(first));
      return 0;
    }
    if (sub === undefined) throw new UsageError(`\`flashtrail ${first}\` needs a subcommand: ${names.join(', ')}`);
    entry = subcommands.find((c) => c.name === `${first} ${sub}`);
    if (entry === undefined) throw new UsageError(`unknown subcommand ${sub} for \`flashtrail ${first}\``);
    args = subArgs;
  }
  helpFor = entry.name;
  const spec = (await entry.load()).default;
  if (wantsHelp(args)) {
    const heads = entry.name === first && subcommandsOf(first).length > 0;
    console.log(renderCommandHelp(spec, entry.name, entry.summary) + (heads ? renderSubcommandsOf(first) : ''));
    return 0;
  }
  return spec.run(parseCommandArgs(spec, entry.name, args), { name: entry.name });
}

/** Prints what went wrong; returns the exit status. */
function report(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`flashtrail: ${error.message}; see flashtrail ${helpFor === '' ? '' : `${helpFor} `}--help`);
    return 2;
  }
  const line = describeExpectedFailure(error);
  if (line !== null) {
    console.error(`flashtrail: ${line}`);
    return error instanceof CliError ? error.exitCode : 1;
  }
  console.error('flashtrail: unexpected error (a bug: please report it with what follows)');
  console.error(error);
  return 1;
}

/** Exits once what was written to stdout and stderr is out: process.exit() alone can cut a piped output short. */
function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

// `flashtrail … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(exit, (error: unknown) => exit(report(error)));
