import { createReadStream } from 'node:fs';
import { commandGroup, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import { humanSize, labelList, parseLabels } from '../table';
import { timeText } from '../time';

const USAGE = `usage: berth content COMMAND
  ls [-q] [FILTER…]                 blobs
  get DIGEST                        write a blob to stdout
  ingest [--expected DIGEST] [--ref REF] [--label K=V]… [FILE]   write a blob from FILE or stdin
  rm DIGEST…                        delete blobs
  label DIGEST [KEY=VALUE…]         set (KEY=) or clear labels
  active                            ingests in progress
`;

export const contentCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values, positionals } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const infos = [];
      for await (const i of ctx.client.content.list(positionals)) infos.push(i);
      if (values.quiet && !ctx.json) ctx.print(infos.map((i) => i.digest).join('\n'));
      else ctx.table(['DIGEST', 'SIZE', 'AGE', 'LABELS'], infos.map((i) => [i.digest, humanSize(i.size), timeText(i.created_at), labelList(i.labels)]), infos);
      return 0;
    },
    async get(ctx, args) {
      const [digest] = args;
      if (!digest) throw new UsageError('digest required', USAGE);
      for await (const b of ctx.client.content.read(digest)) {
        if (!ctx.stdout.write(b)) await new Promise((r) => ctx.stdout.once('drain', r));
      }
      return 0;
    },
    async ingest(ctx, args) {
      const { values, positionals } = parseFlags(
        args,
        { expected: { type: 'string' }, ref: { type: 'string' }, label: { type: 'string', multiple: true } },
        USAGE,
      );
      const source = positionals[0] ? createReadStream(positionals[0]) : process.stdin;
      const digest = await ctx.client.withLease((c) =>
        c.content.write(source as AsyncIterable<Buffer>, {
          ...(values.expected !== undefined ? { expected: values.expected } : {}),
          ...(values.ref !== undefined ? { ref: values.ref } : {}),
          labels: { 'containerd.io/gc.root': new Date().toISOString(), ...parseLabels(values.label ?? []) },
        }),
      );
      ctx.show(digest, { digest });
      return 0;
    },
    async rm(ctx, args) {
      if (args.length === 0) throw new UsageError('digest required', USAGE);
      for (const d of args) {
        await ctx.client.content.delete(d);
        if (!ctx.json) ctx.print(d);
      }
      return 0;
    },
    async label(ctx, args) {
      const [digest, ...labels] = args;
      if (!digest) throw new UsageError('digest required', USAGE);
      const parsed = parseLabels(labels);
      const info = await ctx.client.content.setLabels(digest, parsed, Object.keys(parsed).map((k) => `labels.${k}`));
      ctx.show(labelList(info.labels), info);
      return 0;
    },
    async active(ctx) {
      const st = await ctx.client.content.statuses();
      ctx.table(['REF', 'SIZE', 'AGE'], st.map((s) => [s.ref, `${humanSize(s.offset)}/${humanSize(s.total)}`, timeText(s.started_at)]), st);
      return 0;
    },
  },
  { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
);
