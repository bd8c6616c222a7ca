// `berth`: a ctr-style CLI over berth's client library, for berthd or a real containerd.
// Tables for people, --json for scripts, docker's exit codes. Each command's module is
// loaded only when that command runs: the CLI's start time is part of `berth run`'s.
import { CliContext, type GlobalOptions } from './context';
import type { Command } from './command';
import { EXIT_CLI, UsageError } from './cli-error';

const USAGE = `usage: berth [-a SOCK] [-n NAMESPACE] [--json] COMMAND [ARGS…]

commands:
  run           run a container from an image (REF ID [CMD ARGS…])
  images, i     import, export, ls, rm, tag, check, inspect (pull, push with remotes)
  containers, c ls, info, rm
  tasks, t      ls, ps, start, exec, attach, kill, pause, resume, rm, metrics
  snapshots     ls, info, usage, mounts, rm, prepare, view, commit
  content       ls, get, rm, label, ingest
  leases        ls, create, rm
  namespaces    ls, create, rm, label
  stats         live CPU, memory and pids of running tasks ([--no-stream] [ID…])
  logs          output of a container run with -d ([-f] [--tail N] ID)
  events        stream events until interrupted (FILTER…)
  plugins       ls
  version       client and server versions

  -a, --address SOCK   daemon socket (default $CONTAINERD_ADDRESS or /run/berth/berthd.sock)
  -n, --namespace NS   namespace (default $CONTAINERD_NAMESPACE or "default")
  --json               machine-readable output (a JSON document; streams: one per line)

Exit codes: 125 when berth itself fails, else the container process's (126: cannot run it,
127: not found), as docker's.
`;

const COMMANDS: Record<string, () => Command> = {
  run: () => (require('./commands/run') as typeof import('./commands/run')).runCommand,
  images: () => (require('./commands/images') as typeof import('./commands/images')).imagesCommand,
  containers: () => (require('./commands/containers') as typeof import('./commands/containers')).containersCommand,
  tasks: () => (require('./commands/tasks') as typeof import('./commands/tasks')).tasksCommand,
  snapshots: () => (require('./commands/snapshots') as typeof import('./commands/snapshots')).snapshotsCommand,
  content: () => (require('./commands/content') as typeof import('./commands/content')).contentCommand,
  leases: () => (require('./commands/leases') as typeof import('./commands/leases')).leasesCommand,
  namespaces: () => (require('./commands/namespaces') as typeof import('./commands/namespaces')).namespacesCommand,
  stats: () => (require('./commands/stats') as typeof import('./commands/stats')).statsCommand,
  logs: () => (require('./commands/logs') as typeof import('./commands/logs')).logsCommand,
  events: () => (require('./commands/events') as typeof import('./commands/events')).eventsCommand,
  plugins: () => (require('./commands/plugins') as typeof import('./commands/plugins')).pluginsCommand,
  version: () => (require('./commands/version') as typeof import('./commands/version')).versionCommand,
};

const ALIASES: Record<string, string> = {
  image: 'images',
  i: 'images',
  container: 'containers',
  c: 'containers',
  task: 'tasks',
  t: 'tasks',
  snapshot: 'snapshots',
  lease: 'leases',
  namespace: 'namespaces',
  ns: 'namespaces',
  event: 'events',
  plugin: 'plugins',
};

/** Global flags come before the command, as ctr's. */
function parseGlobal(argv: string[]): { global: GlobalOptions; rest: string[]; help: boolean } {
  const global: GlobalOptions = {
    address: process.env.CONTAINERD_ADDRESS ?? '/run/berth/berthd.sock',
    namespace: process.env.CONTAINERD_NAMESPACE ?? 'default',
    json: false,
  };
  let help = false;
  let i = 0;
  const value = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`flag needs an argument: ${flag}`, USAGE);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [name, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (name === '-a' || name === '--address') global.address = inline ?? value(name);
    else if (name === '-n' || name === '--namespace') global.namespace = inline ?? value(name);
    else if (name === '--json') global.json = true;
    else if (name === '-h' || name === '--help') help = true;
    else if (a.startsWith('-')) throw new UsageError(`flag provided but not defined: ${a}`, USAGE);
    else break;
  }
  return { global, rest: argv.slice(i), help };
}

export async function main(argv: string[]): Promise<number> {
  let ctx: CliContext | null = null;
  try {
    const { global, rest, help } = parseGlobal(argv);
    const [name, ...args] = rest;
    if (help || name === undefined) {
      process.stdout.write(USAGE);
      return help ? 0 : EXIT_CLI;
    }
    const load = COMMANDS[ALIASES[name] ?? name];
    if (!load) throw new UsageError(`unknown command "${name}"`, USAGE);
    ctx = new CliContext(global);
    return await load().run(ctx, args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`berth: ${err.message}\n${err.usage ? `\n${err.usage}` : ''}`);
    } else {
      process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    return EXIT_CLI;
  } finally {
    ctx?.close();
  }
}
