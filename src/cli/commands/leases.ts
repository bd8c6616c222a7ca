import { commandGroup, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import { labelList, parseLabels } from '../table';
import { timeText } from '../time';

const USAGE = `usage: berth leases COMMAND
  ls [-q] [FILTER…]                          leases
  create [--id ID] [--expires DUR] [KEY=VALUE…]   create a lease (DUR: 30s, 10m, 24h)
  rm [--sync] ID…                            delete leases (--sync: wait for the garbage collection)
`;

function durationMs(s: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(s);
  if (!m) throw new UsageError(`invalid duration "${s}"`, USAGE);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export const leasesCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values, positionals } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const leases = await ctx.client.leases.list(positionals);
      if (values.quiet && !ctx.json) ctx.print(leases.map((l) => l.id).join('\n'));
      else ctx.table(['ID', 'CREATED AT', 'LABELS'], leases.map((l) => [l.id, timeText(l.created_at), labelList(l.labels)]), leases);
      return 0;
    },
    async create(ctx, args) {
      const { values, positionals } = parseFlags(args, { id: { type: 'string' }, expires: { type: 'string', short: 'x' } }, USAGE);
      const lease = await ctx.client.leases.create({
        ...(values.id !== undefined ? { id: values.id } : {}),
        ...(values.expires !== undefined ? { expireMs: durationMs(values.expires) } : {}),
        labels: parseLabels(positionals),
      });
      ctx.show(lease.id, lease);
      return 0;
    },
    async rm(ctx, args) {
      const { values, positionals } = parseFlags(args, { sync: { type: 'boolean' } }, USAGE);
      if (positionals.length === 0) throw new UsageError('lease id required', USAGE);
      for (const id of positionals) {
        await ctx.client.leases.delete(id, { sync: values.sync === true });
        if (!ctx.json) ctx.print(id);
      }
      return 0;
    },
  },
  { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
);
