import { commandGroup, parseFlags, type Command } from '../command';

const USAGE = `usage: berth plugins ls [-d] [FILTER…]   daemon plugins and their status (-d: details)
`;

export const pluginsCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values, positionals } = parseFlags(args, { detailed: { type: 'boolean', short: 'd' } }, USAGE);
      const plugins = await ctx.client.plugins(positionals);
      if (values.detailed && !ctx.json) {
        ctx.print(
          plugins
            .map((p) => [`Type:          ${p.type}`, `ID:            ${p.id}`, `Requires:      ${p.requires.join(', ') || '-'}`, `Capabilities:  ${p.capabilities.join(', ') || '-'}`, `Status:        ${p.init_err ? `error: ${p.init_err.message}` : 'ok'}`].join('\n'))
            .join('\n\n'),
        );
      } else {
        ctx.table(['TYPE', 'ID', 'STATUS'], plugins.map((p) => [p.type, p.id, p.init_err ? `error: ${p.init_err.message}` : 'ok']), plugins);
      }
      return 0;
    },
  },
  { list: 'ls' },
);
