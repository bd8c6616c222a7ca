import { commandGroup, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import { labelList, parseLabels } from '../table';

const USAGE = `usage: berth namespaces COMMAND
  ls [-q]                    namespaces and their labels
  create NAME [KEY=VALUE…]   create a namespace
  rm NAME…                   remove empty namespaces
  label NAME [KEY=VALUE…]    set (KEY=) or clear labels
`;

export const namespacesCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const list = await ctx.client.namespaces.list();
      if (values.quiet && !ctx.json) ctx.print(list.map((n) => n.name).join('\n'));
      else ctx.table(['NAME', 'LABELS'], list.map((n) => [n.name, labelList(n.labels)]), list);
      return 0;
    },
    async create(ctx, args) {
      const [name, ...labels] = args;
      if (!name) throw new UsageError('namespace name required', USAGE);
      const ns = await ctx.client.namespaces.create(name, parseLabels(labels));
      if (ctx.json) ctx.show('', ns);
      return 0;
    },
    async rm(ctx, args) {
      if (args.length === 0) throw new UsageError('namespace name required', USAGE);
      let code = 0;
      for (const name of args) {
        try {
          await ctx.client.namespaces.delete(name);
          if (!ctx.json) ctx.print(name);
        } catch (err) {
          ctx.stderr.write(`berth: unable to delete ${name}: ${(err as Error).message}\n`);
          code = 125;
        }
      }
      return code;
    },
    async label(ctx, args) {
      const [name, ...labels] = args;
      if (!name) throw new UsageError('namespace name required', USAGE);
      const parsed = parseLabels(labels);
      const ns = await ctx.client.namespaces.setLabels(name, parsed, Object.keys(parsed).map((k) => `labels.${k}`));
      ctx.show(labelList(ns.labels), ns);
      return 0;
    },
  },
  { list: 'ls', remove: 'rm', delete: 'rm', del: 'rm' },
);
