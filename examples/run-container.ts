// Run a container and stream its output: the image's command (or the one given), stdout
// and stderr straight to this process's, its exit code as ours.
//
//   npx tsx examples/run-container.ts [SOCKET] [IMAGE] [CMD ARGS…]
//   (as root; the image must be imported and unpacked, e.g. `berth images import`/ctr)
import { Client, type Task } from 'berth';
import { withImageConfig, withProcessArgs, type SpecOpt } from 'berth/oci';

async function main(): Promise<number> {
  const [socket = '/run/berth/berthd.sock', image = 'docker.io/library/busybox:latest', ...cmd] = process.argv.slice(2);
  const client = Client.connect(socket, { namespace: 'examples' });
  const id = `example-${process.pid}`;
  try {
    const container = await client.newContainer(id, {
      image,
      specOpts: (img) => {
        const opts: SpecOpt[] = [withImageConfig(img?.config.config ?? {})];
        if (cmd.length > 0) opts.push(withProcessArgs(...cmd));
        return opts;
      },
    });
    let task: Task | undefined;
    try {
      task = await container.newTask({ stdout: process.stdout, stderr: process.stderr });
      const exited = task.wait(); // before start: a quick exit is not missed
      await task.start();
      const { code } = await exited;
      await task.delete(); // after the output is read to its end
      return code;
    } finally {
      await container.delete({ withSnapshot: true });
    }
  } finally {
    client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(125);
  },
);
