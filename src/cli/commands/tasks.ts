import { commandGroup, parseFlags, splitAtCommand, type Command } from '../command';
import { UsageError, startFailureCode } from '../cli-error';
import { bindTerminal, localStdio } from '../attach';
import type { CliContext } from '../context';

const USAGE = `usage: berth tasks COMMAND
  ls [-q]                                  tasks and their status
  ps ID                                    the task's processes
  start [-t] [-i] [-d] ID                  create and start the task of an existing container
  exec --exec-id X [-t] [-i] [-d] [--cwd D] [--env K=V]… [-u UID[:GID]] ID CMD [ARGS…]
  attach ID                                connect to a running task's stdio
  kill [-s SIGNAL] [-a] [--exec-id X] ID   signal a task (default SIGTERM)
  pause ID | resume ID
  rm [-f] ID…                              delete stopped tasks (-f: kill first)
  metrics ID                               the task's cgroup metrics (ctr's table; --json: all of them)
`;

async function runAttached(ctx: CliContext, proc: import('../../client/task').Process, mode: { tty: boolean; stdin: boolean }, start: boolean): Promise<number> {
  const exited = proc.wait();
  exited.catch(() => undefined);
  const unbind = await bindTerminal(proc, mode);
  try {
    if (start) {
      try {
        await proc.start();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        await proc.delete().catch(() => undefined);
        ctx.stderr.write(`berth: ${message}\n`);
        return startFailureCode(message);
      }
    }
    const st = await exited;
    return st.code;
  } finally {
    unbind();
  }
}

export const tasksCommand: Command = commandGroup(
  USAGE,
  {
    async ls(ctx, args) {
      const { values } = parseFlags(args, { quiet: { type: 'boolean', short: 'q' } }, USAGE);
      const tasks = await ctx.client.tasks();
      if (values.quiet && !ctx.json) ctx.print(tasks.map((t) => t.id).join('\n'));
      else ctx.table(['TASK', 'PID', 'STATUS'], tasks.map((t) => [t.id, String(t.pid), t.status]), tasks);
      return 0;
    },
    async ps(ctx, args) {
      if (!args[0]) throw new UsageError('container id required', USAGE);
      const task = await (await ctx.client.loadContainer(args[0])).task();
      const pids = await task.pids();
      ctx.table(['PID', 'INFO'], pids.map((p) => [String(p.pid), p.info ? p.info.type_url : '-']), pids);
      return 0;
    },
    async start(ctx, args) {
      const { values, positionals } = parseFlags(args, { tty: { type: 'boolean', short: 't' }, i: { type: 'boolean', short: 'i' }, detach: { type: 'boolean', short: 'd' } }, USAGE);
      if (!positionals[0]) throw new UsageError('container id required', USAGE);
      const container = await ctx.client.loadContainer(positionals[0]);
      const spec = (await container.spec()) as { process?: { terminal?: boolean } };
      const mode = { tty: values.tty === true || spec.process?.terminal === true, stdin: values.i === true };
      const task = await container.newTask(values.detach ? {} : localStdio(mode));
      if (values.detach) {
        await task.start();
        return 0;
      }
      const code = await runAttached(ctx, task, mode, true);
      await task.delete().catch(() => undefined);
      return code;
    },
    async exec(ctx, args) {
      const withValue = new Set(['--exec-id', '--cwd', '--env', '-e', '--user', '-u']);
      const { flags, rest } = splitAtCommand(args, withValue, 1);
      const { values, positionals } = parseFlags(
        flags,
        {
          'exec-id': { type: 'string' },
          tty: { type: 'boolean', short: 't' },
          i: { type: 'boolean', short: 'i' },
          detach: { type: 'boolean', short: 'd' },
          cwd: { type: 'string' },
          env: { type: 'string', short: 'e', multiple: true },
          user: { type: 'string', short: 'u' },
        },
        USAGE,
      );
      const id = positionals[0];
      if (!id || rest.length === 0) throw new UsageError('container id and a command required', USAGE);
      if (!values['exec-id']) throw new UsageError('exec-id is required', USAGE);
      const container = await ctx.client.loadContainer(id);
      const spec = (await container.spec()) as { process?: Record<string, unknown> };
      const pspec: Record<string, unknown> = { ...(spec.process ?? {}), args: rest, terminal: values.tty === true };
      if (values.cwd) pspec.cwd = values.cwd;
      if (values.env) pspec.env = [...((pspec.env as string[] | undefined) ?? []), ...values.env];
      if (values.user) {
        const [uid, gid] = values.user.split(':');
        if (!/^\d+$/.test(uid ?? '') || (gid !== undefined && !/^\d+$/.test(gid))) throw new UsageError('--user takes numeric UID[:GID] for exec', USAGE);
        pspec.user = { ...((pspec.user as object | undefined) ?? {}), uid: Number(uid), gid: Number(gid ?? 0) };
      }
      const task = await container.task();
      const mode = { tty: values.tty === true, stdin: values.i === true };
      const proc = await task.exec(values['exec-id'], { spec: pspec, ...(values.detach ? {} : localStdio(mode)) });
      if (values.detach) {
        await proc.start();
        return 0;
      }
      const code = await runAttached(ctx, proc, mode, true);
      await proc.delete().catch(() => undefined);
      return code;
    },
    async attach(ctx, args) {
      if (!args[0]) throw new UsageError('container id required', USAGE);
      const container = await ctx.client.loadContainer(args[0]);
      const status = await (await container.task()).status();
      const mode = { tty: status.terminal, stdin: status.stdin !== '' };
      const task = await container.task(localStdio(mode));
      return runAttached(ctx, task, mode, false);
    },
    async kill(ctx, args) {
      const { values, positionals } = parseFlags(args, { signal: { type: 'string', short: 's' }, all: { type: 'boolean', short: 'a' }, 'exec-id': { type: 'string' } }, USAGE);
      if (!positionals[0]) throw new UsageError('container id required', USAGE);
      const task = await (await ctx.client.loadContainer(positionals[0])).task();
      const proc = values['exec-id'] ? task.loadProcess(values['exec-id']) : task;
      await proc.kill(values.signal ?? 'SIGTERM', { all: values.all === true });
      return 0;
    },
    async pause(ctx, args) {
      if (!args[0]) throw new UsageError('container id required', USAGE);
      await (await (await ctx.client.loadContainer(args[0])).task()).pause();
      return 0;
    },
    async resume(ctx, args) {
      if (!args[0]) throw new UsageError('container id required', USAGE);
      await (await (await ctx.client.loadContainer(args[0])).task()).resume();
      return 0;
    },
    async rm(ctx, args) {
      const { values, positionals } = parseFlags(args, { force: { type: 'boolean', short: 'f' } }, USAGE);
      if (positionals.length === 0) throw new UsageError('container id required', USAGE);
      let code = 0;
      for (const id of positionals) {
        try {
          const task = await (await ctx.client.loadContainer(id)).task();
          if (values.force) {
            const st = await task.status();
            if (st.status === 'RUNNING' || st.status === 'PAUSED') {
              const exited = task.wait();
              if (st.status === 'PAUSED') await task.resume().catch(() => undefined);
              await task.kill('SIGKILL', { all: true });
              await exited;
            }
          }
          const st = await task.delete();
          if (!ctx.json) ctx.print(`${id}`);
          void st;
        } catch (err) {
          ctx.stderr.write(`berth: unable to delete ${id}: ${(err as Error).message}\n`);
          code = 125;
        }
      }
      return code;
    },
    async metrics(ctx, args) {
      if (!args[0]) throw new UsageError('container id required', USAGE);
      const task = await (await ctx.client.loadContainer(args[0])).task();
      const m = await task.metrics();
      if (!m) throw new Error(`no metrics for task ${args[0]}`);
      const { metricRows } = require('../metrics-table') as typeof import('../metrics-table');
      const { dateNanosText } = require('../time') as typeof import('../time');
      const when = dateNanosText(m.timestamp, m.nanos);
      if (ctx.json) {
        ctx.show('', { ...m, timestamp: when });
        return 0;
      }
      if (m.version === 0) throw new Error(`metrics of type ${m.type} cannot be shown as a table (use --json)`);
      const { renderTable } = require('../table') as typeof import('../table');
      const width = ctx.stdout.isTTY ? ctx.stdout.columns : undefined;
      ctx.stdout.write(`${renderTable(['ID', 'TIMESTAMP'], [[m.id, when]], width)}
${renderTable(['METRIC', 'VALUE'], metricRows(m), width)}`);
      return 0;
    },
  },
  { list: 'ls', delete: 'rm', remove: 'rm', del: 'rm' },
);
