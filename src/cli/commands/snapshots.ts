import { subcommands, parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import type { CliContext } from '../context';
import { humanSize, labelList } from '../table';
import { timeText } from '../time';

const USAGE = `usage: berth snapshots [--snapshotter NAME] COMMAND
  ls [FILTER…]                 snapshots
  info KEY                     one snapshot
  usage [KEY…]                 disk usage
  mounts TARGET KEY            the mounts of a snapshot, as mount(8) commands
  prepare [--mounts] KEY [PARENT]   an active snapshot (labelled containerd.io/gc.root: kept until removed)
  view [--mounts] KEY PARENT   a read-only view (also a gc root)
  commit NAME KEY              commit an active snapshot
  rm KEY…                      remove snapshots
`;

function snapshotterOf(ctx: CliContext, args: string[]): { name: string; rest: string[] } {
  const rest: string[] = [];
  let name = process.env.CONTAINERD_SNAPSHOTTER ?? 'overlayfs';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--snapshotter' || a === '-s') name = args[++i] ?? name;
    else if (a.startsWith('--snapshotter=')) name = a.slice('--snapshotter='.length);
    else rest.push(a);
  }
  void ctx;
  return { name, rest };
}

function mountCommands(target: string, mounts: Array<{ type: string; source: string; options: string[] }>): string {
  return mounts.map((m) => `mount -t ${m.type} ${m.source} ${target} -o ${m.options.join(',')}`).join('\n');
}

export const snapshotsCommand: Command = {
  usage: USAGE,
  run: (ctx, all) => {
    const { name, rest } = snapshotterOf(ctx, all);
    const snap = (): ReturnType<CliContext['client']['snapshotter']> => ctx.client.snapshotter(name);
    return subcommands(
      ctx,
      rest,
      USAGE,
      {
        async ls(ctx, args) {
          const infos = [];
          for await (const i of snap().list(args)) infos.push(i);
          ctx.table(['KEY', 'PARENT', 'KIND'], infos.map((i) => [i.name, i.parent || '-', i.kind.toLowerCase()]), infos);
          return 0;
        },
        async info(ctx, args) {
          if (!args[0]) throw new UsageError('key required', USAGE);
          const i = await snap().stat(args[0]);
          ctx.show(JSON.stringify(i, null, 2), i);
          return 0;
        },
        async usage(ctx, args) {
          const keys = args.length > 0 ? args : [];
          if (keys.length === 0) for await (const i of snap().list()) keys.push(i.name);
          const rows = [];
          for (const k of keys) rows.push({ key: k, ...(await snap().usage(k)) });
          ctx.table(['KEY', 'SIZE', 'INODES'], rows.map((r) => [r.key, humanSize(r.size), String(r.inodes)]), rows);
          return 0;
        },
        async mounts(ctx, args) {
          const [target, key] = args;
          if (!target || !key) throw new UsageError('target and key required', USAGE);
          const m = await snap().mounts(key);
          ctx.show(mountCommands(target, m), m);
          return 0;
        },
        async prepare(ctx, args) {
          const { values, positionals } = parseFlags(args, { mounts: { type: 'string' } }, USAGE);
          const [key, parent] = positionals;
          if (!key) throw new UsageError('key required', USAGE);
          // What a person makes by hand stays until they remove it: a gc root, not garbage.
          const m = await snap().prepare(key, parent ?? '', { 'containerd.io/gc.root': new Date().toISOString() });
          if (values.mounts !== undefined || ctx.json) ctx.show(mountCommands(values.mounts ?? '/tmp/mnt', m), m);
          return 0;
        },
        async view(ctx, args) {
          const { values, positionals } = parseFlags(args, { mounts: { type: 'string' } }, USAGE);
          const [key, parent] = positionals;
          if (!key || !parent) throw new UsageError('key and parent required', USAGE);
          const m = await snap().view(key, parent, { 'containerd.io/gc.root': new Date().toISOString() });
          if (values.mounts !== undefined || ctx.json) ctx.show(mountCommands(values.mounts ?? '/tmp/mnt', m), m);
          return 0;
        },
        async commit(ctx, args) {
          const [n, key] = args;
          if (!n || !key) throw new UsageError('name and key required', USAGE);
          await snap().commit(n, key);
          return 0;
        },
        async rm(ctx, args) {
          if (args.length === 0) throw new UsageError('key required', USAGE);
          for (const k of args) await snap().remove(k);
          return 0;
        },
        async label(ctx, args) {
          const [key, ...labels] = args;
          if (!key) throw new UsageError('key required', USAGE);
          const parsed = Object.fromEntries(labels.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
          const i = await snap().setLabels(key, parsed, Object.keys(parsed).map((k) => `labels.${k}`));
          ctx.show(labelList(i.labels), i);
          return 0;
        },
        async tree(ctx) {
          const infos = [];
          for await (const i of snap().list()) infos.push(i);
          ctx.table(['KEY', 'PARENT', 'CREATED'], infos.map((i) => [i.name, i.parent || '-', timeText(i.created_at)]), infos);
          return 0;
        },
      },
      { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
    );
  },
};
