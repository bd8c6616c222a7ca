import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliContext } from './context';
import { UsageError } from './cli-error';

/** One top-level command (a group like `images`, or `run`). Returns the exit code. */
export interface Command {
  readonly usage: string;
  run(ctx: CliContext, args: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** util.parseArgs for a subcommand, its errors turned into usage errors. */
export function parseFlags<O extends Options>(args: string[], options: O, usage: string): { values: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>['values']; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** Flags end at the first positional: what follows belongs to the container's command. */
export function splitAtCommand(args: string[], flagsWithValue: ReadonlySet<string>, positionalsBefore: number): { flags: string[]; rest: string[] } {
  const flags: string[] = [];
  let seen = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      return { flags, rest: args.slice(i + 1) };
    }
    if (a.startsWith('-') && a !== '-') {
      flags.push(a);
      if (!a.includes('=') && flagsWithValue.has(a) && i + 1 < args.length) flags.push(args[++i]!);
      continue;
    }
    flags.push(a);
    if (++seen === positionalsBefore) return { flags, rest: args.slice(i + 1) };
  }
  return { flags, rest: [] };
}

/** A command made only of subcommands (`berth containers ls|info|…`). */
export function commandGroup(usage: string, table: Record<string, (ctx: CliContext, args: string[]) => Promise<number>>, aliases: Record<string, string> = {}): Command {
  return { usage, run: (ctx, args) => subcommands(ctx, args, usage, table, aliases) };
}

/** Dispatches `group sub args…` to a table of subcommands (with aliases). */
export async function subcommands(
  ctx: CliContext,
  args: string[],
  usage: string,
  table: Record<string, (ctx: CliContext, args: string[]) => Promise<number>>,
  aliases: Record<string, string> = {},
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    ctx.stdout.write(usage);
    return sub === undefined ? 125 : 0;
  }
  const fn = table[aliases[sub] ?? sub];
  if (!fn) throw new UsageError(`unknown command "${sub}"`, usage);
  return fn(ctx, rest);
}
