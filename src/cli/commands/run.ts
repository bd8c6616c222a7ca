import type { SpecOpt } from '../../oci/spec-opt';
import { parseFlags, splitAtCommand, type Command } from '../command';
import { UsageError, startFailureCode } from '../cli-error';
import { bindTerminal, localStdio } from '../attach';
import { parseLabels } from '../table';

const USAGE = `usage: berth run [OPTIONS] REF ID [CMD ARGS…]

  --rm                  remove the container (and its snapshot) when it exits
  -d, --detach          start it and return; its output goes to a log file (berth logs ID)
  -t, --tty             a terminal, with this one's input attached (as ctr run -t)
  -i                    keep stdin attached
  --env, -e K=V         environment (repeatable)
  --mount SPEC          type=bind,src=/host,dst=/ctr,options=rbind:ro (repeatable)
  --user, -u USER       uid[:gid] or name[:group], resolved in the image
  --cwd DIR             working directory
  --net-host            the host's network namespace, hosts and resolv.conf
  --memory-limit BYTES  memory limit
  --cpus N              CPU quota in CPUs (0.5 = half a CPU)
  --runtime NAME        runtime (default io.containerd.runc.v2)
  --snapshotter NAME    snapshotter (default overlayfs)
  --label K=V           container label (repeatable)
`;

const FLAGS = {
  rm: { type: 'boolean' },
  detach: { type: 'boolean', short: 'd' },
  tty: { type: 'boolean', short: 't' },
  i: { type: 'boolean', short: 'i' },
  env: { type: 'string', short: 'e', multiple: true },
  mount: { type: 'string', multiple: true },
  user: { type: 'string', short: 'u' },
  cwd: { type: 'string' },
  'net-host': { type: 'boolean' },
  'memory-limit': { type: 'string' },
  cpus: { type: 'string' },
  runtime: { type: 'string' },
  snapshotter: { type: 'string' },
  label: { type: 'string', multiple: true },
} as const;

const WITH_VALUE = new Set(['--env', '-e', '--mount', '--user', '-u', '--cwd', '--memory-limit', '--cpus', '--runtime', '--snapshotter', '--label']);

/** ctr's --mount syntax: comma-separated key=value, options colon-separated. */
export function parseMount(spec: string): { type: string; source: string; destination: string; options: string[] } {
  const m = { type: 'none', source: '', destination: '', options: [] as string[] };
  for (const part of spec.split(',')) {
    const [k, v = ''] = [part.slice(0, part.indexOf('=') < 0 ? part.length : part.indexOf('=')), part.slice(part.indexOf('=') + 1)];
    switch (k) {
      case 'type':
        m.type = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'destination':
      case 'dst':
        m.destination = v;
        break;
      case 'options':
        m.options = v.split(':').filter((o) => o !== '');
        break;
      default:
        throw new UsageError(`mount option "${k}" not supported`, USAGE);
    }
  }
  if (!m.destination) throw new UsageError(`mount "${spec}": dst required`, USAGE);
  return m;
}

export const runCommand: Command = {
  usage: USAGE,
  async run(ctx, args) {
    const { flags, rest } = splitAtCommand(args, WITH_VALUE, 2);
    const { values: v, positionals } = parseFlags(flags, FLAGS, USAGE);
    const [ref, id] = positionals;
    if (!ref || !id) throw new UsageError('image ref and container id must be provided', USAGE);
    if (v.rm && v.detach) throw new UsageError('flags --detach and --rm cannot be specified together', USAGE);
    const memory = v['memory-limit'] !== undefined ? Number(v['memory-limit']) : 0;
    const cpus = v.cpus !== undefined ? Number(v.cpus) : 0;
    if (!Number.isFinite(memory) || memory < 0) throw new UsageError(`invalid --memory-limit "${v['memory-limit']}"`, USAGE);
    if (!Number.isFinite(cpus) || cpus < 0) throw new UsageError(`invalid --cpus "${v.cpus}"`, USAGE);
    const mounts = (v.mount ?? []).map(parseMount);
    // Only the option modules run needs: not src/oci's index (seccomp tables and all).
    const pOpts = require('../../oci/opts-process') as typeof import('../../oci/opts-process');
    const iOpts = require('../../oci/opts-image') as typeof import('../../oci/opts-image');
    const uOpts = require('../../oci/opts-user') as typeof import('../../oci/opts-user');
    const mOpts = require('../../oci/opts-mounts') as typeof import('../../oci/opts-mounts');
    const lOpts = require('../../oci/opts-linux') as typeof import('../../oci/opts-linux');
    const rOpts = require('../../oci/opts-resources') as typeof import('../../oci/opts-resources');
    const dOpts = require('../../oci/opts-devices') as typeof import('../../oci/opts-devices');
    const client = ctx.client;
    // -d: the output goes to a log file for `berth logs` (log-files.ts).
    const logFiles = v.detach ? (require('../log-files') as typeof import('../log-files')) : undefined;
    const log = logFiles?.logFileFor(ctx.global.namespace, id);
    const container = await client.newContainer(id, {
      image: ref,
      ...(v.snapshotter !== undefined ? { snapshotter: v.snapshotter } : {}),
      ...(v.runtime !== undefined ? { runtime: v.runtime } : {}),
      labels: { ...parseLabels(v.label ?? []), ...(log ? { [logFiles!.LOG_FILE_LABEL]: log.path } : {}) },
      // ctr run's order of options.
      specOpts: (img) => {
        const o: SpecOpt[] = [dOpts.withDefaultUnixDevices, iOpts.withImageConfig(img?.config.config ?? {})];
        if (rest.length > 0) o.push(pOpts.withProcessArgs(...rest));
        if (v.cwd) o.push(pOpts.withProcessCwd(v.cwd));
        if (v.user) o.push(uOpts.withUser(v.user), uOpts.withAdditionalGIDs(v.user));
        if (v.tty) o.push(pOpts.withTTY);
        if (v['net-host']) o.push(lOpts.withHostNamespace('network'), mOpts.withHostHostsFile, mOpts.withHostResolvconf);
        o.push(pOpts.withEnv(v.env ?? []));
        if (mounts.length > 0) o.push(mOpts.withMounts(mounts));
        if (memory > 0) o.push(rOpts.withMemoryLimit(memory));
        if (cpus > 0) o.push(rOpts.withCPUCFS(Math.trunc(cpus * 100_000), 100_000));
        return o;
      },
    });
    // -t attaches stdin as ctr's run -t does (the command shapes are ctr's): a terminal
    // one cannot type into is of no use to a person; -i alone attaches it to pipes.
    const mode = { tty: v.tty === true, stdin: v.i === true || v.tty === true };
    let task;
    try {
      if (log) logFiles!.prepareLogFile(log.path);
      task = await container.newTask(log ? { logUri: log.uri } : localStdio(mode));
    } catch (err) {
      // runc checks the command at create: docker's 126/127 apply here too.
      const message = err instanceof Error ? err.message : String(err);
      if (v.rm) await container.delete({ withSnapshot: true }).catch(() => undefined);
      ctx.stderr.write(`berth: ${message}\n`);
      return startFailureCode(message, rest[0]);
    }
    const exited = v.detach ? null : task.wait();
    exited?.catch(() => undefined);
    const unbind = v.detach ? () => undefined : await bindTerminal(task, mode);
    try {
      try {
        await task.start();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        await task.delete().catch(() => undefined);
        if (v.rm) await container.delete({ withSnapshot: true }).catch(() => undefined);
        ctx.stderr.write(`berth: ${message}\n`);
        return startFailureCode(message, rest[0]);
      }
      if (v.detach) return 0;
      const status = await exited!;
      await task.delete();
      if (v.rm) await container.delete({ withSnapshot: true });
      return status.code;
    } finally {
      unbind();
    }
  },
};
