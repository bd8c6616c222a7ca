// containerd-shim-berth-v1: berth's shim v2 binary (reference §10). See README.md here.
//
//   … start    print the address of this daemon's shared shim (start it if needed)
//   … delete   clean up a task whose shim is gone; DeleteResponse on stdout
//   … serve    (internal) the long-lived process: ttrpc containerd.task.v2.Task
//
// This entry loads only the flag parser; each command loads what it needs, so `start`
// and `delete` never load the proto registry or the ttrpc server.
import { parseShimArgs, UsageError, type ShimArgs } from './args';

const USAGE = `Usage: containerd-shim-berth-v1 -namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR] [-debug] start|delete\n`;

export async function main(argv: readonly string[]): Promise<number> {
  let args: ShimArgs;
  try {
    args = parseShimArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (args.version) {
    process.stdout.write('containerd-shim-berth-v1:\n  Version:  berth\n  Runtime:  io.containerd.berth.v1 (shim v2, ttrpc)\n');
    return 0;
  }
  switch (args.action) {
    case 'start':
      return (await import('./start')).startCommand(args);
    case 'delete':
      return (await import('./delete')).deleteCommand(args);
    case 'serve':
      return (await import('./serve')).serve(args);
    default:
      process.stderr.write(args.action ? `unknown action ${JSON.stringify(args.action)}\n${USAGE}` : USAGE);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`containerd-shim-berth-v1: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
