/**
 * Command-line parsing: `varscope COMMAND [POSITIONAL...] [--flag value | --flag=value | --switch]`.
 */

/** A usage error: exit code 2, printed with the command's help unless `withHelp` is false (a bad path, say). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly withHelp = true,
  ) {
    super(message);
  }
}

/** What a command accepts. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Names of positional arguments, e.g. ["IMAGE"]; a last name ending in "..." takes one or more (["PARTS..."]). */
  positionals: string[];
  /** Flags with a value: name -> description (and a default shown in help). */
  options: Record<string, { help: string; default?: string; required?: boolean }>;
  /** Flags without a value. */
  switches?: Record<string, string>;
  /** Pass everything after the command, --help included, through untouched (export). */
  passThrough?: boolean;
}

/** Parsed arguments. */
export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string>;
  switches: Set<string>;
  rest: string[];
}

/** Parse argv (after the command name) against a spec. */
export function parseArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], options: {}, switches: new Set(), rest: [] };
  if (spec.passThrough) {
    out.rest = argv; // --help too: the wrapped program explains its own flags
    return out;
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      out.switches.add('help');
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq > 0 ? eq : undefined);
      if (spec.switches?.[name] !== undefined) {
        if (eq > 0) throw new UsageError(`--${name} takes no value`);
        out.switches.add(name);
      } else if (spec.options[name]) {
        const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        out.options[name] = value;
      } else {
        throw new UsageError(`unknown option --${name}`);
      }
    } else {
      out.positionals.push(a);
    }
  }
  if (out.switches.has('help')) return out;
  const variadic = spec.positionals[spec.positionals.length - 1]?.endsWith('...') ?? false;
  if (out.positionals.length > spec.positionals.length && !variadic)
    throw new UsageError(`unexpected argument ${out.positionals[spec.positionals.length]}`);
  if (out.positionals.length < spec.positionals.length) throw new UsageError(`missing ${spec.positionals[out.positionals.length]}`);
  for (const [name, o] of Object.entries(spec.options)) {
    if (out.options[name] === undefined && o.default !== undefined) out.options[name] = o.default;
    if (o.required && out.options[name] === undefined) throw new UsageError(`--${name} is required`);
  }
  return out;
}

/** A number option, checked. */
export function num(args: ParsedArgs, name: string, check: { int?: boolean; min?: number; max?: number } = {}): number {
  const s = args.options[name];
  const v = Number(s);
  if (s === undefined || s.trim() === '' || !Number.isFinite(v))
    throw new UsageError(`--${name} must be a number, got ${JSON.stringify(s)}`, false);
  if (check.int && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got ${s}`, false);
  if (check.min !== undefined && v < check.min) throw new UsageError(`--${name} must be >= ${check.min}, got ${s}`, false);
  if (check.max !== undefined && v > check.max) throw new UsageError(`--${name} must be <= ${check.max}, got ${s}`, false);
  return v;
}

/** Help text of a command. */
export function helpText(spec: CommandSpec): string {
  const lines = [`usage: varscope ${spec.name} ${spec.positionals.join(' ')} [options]`.replace(/ +/g, ' '), '', spec.summary, ''];
  const opts = Object.entries(spec.options);
  if (opts.length) lines.push('options:');
  for (const [name, o] of opts)
    lines.push(
      `  --${name.padEnd(16)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}${o.required ? ' (required)' : ''}`,
    );
  for (const [name, h] of Object.entries(spec.switches ?? {})) lines.push(`  --${name.padEnd(16)} ${h}`);
  lines.push(`  --${'help'.padEnd(16)} this help`);
  return lines.join('\n');
}
