import { commandGroup, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import { labelList, parseLabels } from '../table';
import { NotFoundError } from '../../errdefs/errors';

const USAGE = `usage: berth containers COMMAND
  ls [-q] [FILTER…]            containers
  info [--spec] ID             a container's record (--spec: its OCI spec)
  rm [--keep-snapshot] ID…     delete containers (and their snapshots and berth log files)
  label ID [KEY=VALUE…]        set (KEY=) or clear labels
`;

export const containersCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values, positionals } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const cs = await ctx.client.containers(positionals);
      if (values.quiet && !ctx.json) ctx.print(cs.map((c) => c.id).join('\n'));
      else ctx.table(['CONTAINER', 'IMAGE', 'RUNTIME'], cs.map((c) => [c.id, c.image || '-', c.runtime?.name ?? '-']), cs);
      return 0;
    },
    async info(ctx, args) {
      const { values, positionals } = parseFlags(args, { spec: { type: 'boolean' } }, USAGE);
      if (!positionals[0]) throw new UsageError('container id required', USAGE);
      const c = await ctx.client.loadContainer(positionals[0]);
      const rec = await c.info();
      const spec = rec.spec && rec.spec.value.length > 0 ? (JSON.parse(rec.spec.value.toString('utf8')) as unknown) : null;
      const doc = values.spec ? spec : { ...rec, spec };
      ctx.print(JSON.stringify(doc, (k, v: unknown) => (k === 'value' && v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('base64') : v), 2));
      return 0;
    },
    async rm(ctx, args) {
      const { values, positionals } = parseFlags(args, { 'keep-snapshot': { type: 'boolean' } }, USAGE);
      if (positionals.length === 0) throw new UsageError('container id required', USAGE);
      let code = 0;
      for (const id of positionals) {
        try {
          const c = await ctx.client.loadContainer(id);
          const { labels } = await c.info();
          // As ctr's containers delete: a stopped (or never started) task goes first; a
          // running one is refused.
          const task = await c.task().catch((err: unknown) => {
            if (err instanceof NotFoundError) return null;
            throw err;
          });
          if (task) {
            const { status } = await task.status();
            if (status !== 'STOPPED' && status !== 'CREATED') throw new Error(`cannot delete a non stopped container: ${status.toLowerCase()}`);
            await task.delete();
          }
          await c.delete({ withSnapshot: values['keep-snapshot'] !== true });
          (require('../log-files') as typeof import('../log-files')).removeLogFile(labels);
        } catch (err) {
          ctx.stderr.write(`berth: failed to delete container "${id}": ${(err as Error).message}\n`);
          code = 125;
        }
      }
      return code;
    },
    async label(ctx, args) {
      const [id, ...labels] = args;
      if (!id) throw new UsageError('container id required', USAGE);
      const parsed = parseLabels(labels);
      const c = await ctx.client.loadContainer(id);
      const rec = await c.setLabels(parsed, Object.keys(parsed).map((k) => `labels.${k}`));
      ctx.show(labelList(rec.labels), rec.labels);
      return 0;
    },
  },
  { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
);
