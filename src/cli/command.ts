/**
 * One command of the command line: its options, arguments and help in one declaration, parsed with node's
 * parseArgs. Every command answers -h/--help with its own usage; unknown options, missing values and
 * stray arguments are usage errors that name the command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** May be given more than once; the values come as a list. */
  readonly multiple?: boolean;
  /** Must be given (a string option). */
  readonly required?: boolean;
  /** The value's placeholder in the help, e.g. FILE. */
  readonly value?: string;
  readonly help: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export type OptionValues<O extends OptionSpecs> = {
  -readonly [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string;
};

export interface ArgumentSpec {
  readonly name: string;
  readonly help: string;
  /** An optional argument may only be followed by optional ones. */
  readonly optional?: boolean;
}

export interface ParsedArgs<O extends OptionSpecs> {
  readonly values: OptionValues<O>;
  readonly positionals: readonly string[];
}

export interface CommandSpec<O extends OptionSpecs = OptionSpecs> {
  /** Synopsis lines, each after `flashtrail <command> `. */
  readonly usage: readonly string[];
  /** What it does, beyond the registry's one-line summary: a paragraph or two, lines already wrapped. */
  readonly description?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options: O;
  /** Environment variables this command reads. */
  readonly environment?: readonly string[];
  run(args: ParsedArgs<O>, context: CommandContext): Promise<number> | number;
}

export interface CommandContext {
  /** `verify`, `station run`: for messages. */
  readonly name: string;
}

/**
 * Declares a command; the identity function, there for the option types to flow into `run`. A command module
 * does `const command = defineCommand({…}); export default command;`: TypeScript 5.9 does not rewrite the `.ts`
 * of a dynamic import inside an `export default` expression (rewriteRelativeImportExtensions), so `export
 * default defineCommand({… await import('…ts') …})` compiles to a module that cannot load its import.
 */
export function defineCommand<O extends OptionSpecs>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

const HELP_OPTION = { type: 'boolean', short: 'h' } as const;

/** True when the arguments ask for help (-h or --help before a `--`), whatever else they hold. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Parses and checks the arguments of one command (the words after its name). */
export function parseCommandArgs<O extends OptionSpecs>(spec: CommandSpec<O>, name: string, argv: readonly string[]): ParsedArgs<O> {
  const config = Object.fromEntries(Object.entries(spec.options).map(([key, o]) => [key, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]));
  // Not strict: parseArgs' own errors do not name the command, so the checks below are ours.
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: { ...config, help: HELP_OPTION }, allowPositionals: true, strict: false, tokens: true });
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = spec.options[token.name];
    if (option === undefined) throw new UsageError(`unknown option ${token.rawName} for \`flashtrail ${name}\``);
    if (option.type === 'boolean' && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
    if (option.type === 'string') {
      // `--out --json` means a forgotten value far more often than a file named --json (write --out=--json).
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-') && token.value !== '-')) {
        throw new UsageError(`${token.rawName} needs a value (${option.value ?? 'VALUE'})`);
      }
    }
    if (!option.multiple && seen.has(token.name)) throw new UsageError(`${token.rawName} is given twice`);
    seen.add(token.name);
  }
  for (const [key, option] of Object.entries(spec.options)) {
    if (option.required && values[key] === undefined) throw new UsageError(`\`flashtrail ${name}\` needs --${key} ${option.value ?? 'VALUE'}`);
  }
  const args = spec.arguments ?? [];
  const needed = args.filter((a) => !a.optional).length;
  if (positionals.length < needed) throw new UsageError(`\`flashtrail ${name}\` needs ${args[positionals.length]?.name ?? 'an argument'}`);
  if (positionals.length > args.length) throw new UsageError(`unexpected argument ${positionals[args.length] as string} for \`flashtrail ${name}\``);
  return { values: values as OptionValues<O>, positionals };
}

/** `flashtrail <name> --help`. */
export function renderCommandHelp(spec: CommandSpec, name: string, summary: string): string {
  const lines = spec.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}flashtrail ${name}${u === '' ? '' : ` ${u}`}`);
  lines.push('', summary.charAt(0).toUpperCase() + summary.slice(1) + '.');
  if (spec.description) lines.push('', spec.description);
  const table = (rows: [string, string][]) => {
    const width = Math.min(28, Math.max(...rows.map(([left]) => left.length)) + 2);
    for (const [left, right] of rows) lines.push(left.length + 2 > width ? `  ${left}\n  ${' '.repeat(width)}${right}` : `  ${left.padEnd(width)}${right}`);
  };
  if (spec.arguments && spec.arguments.length > 0) {
    lines.push('', 'arguments:');
    table(spec.arguments.map((a) => [a.name, a.help]));
  }
  lines.push('', 'options:');
  table([
    ...Object.entries(spec.options).map(([key, o]): [string, string] => [`--${key}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, `${o.help}${o.multiple ? ' (repeatable)' : ''}`]),
    ['-h, --help', 'show this help'],
  ]);
  if (spec.environment && spec.environment.length > 0) lines.push('', `environment: ${spec.environment.join(', ')} (see flashtrail --help)`);
  return lines.join('\n');
}
