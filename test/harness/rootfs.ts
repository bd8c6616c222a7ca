// A minimal root filesystem for containers in tests, from Debian's busybox-static
// (no network, no image registry).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUSYBOX_BIN = '/bin/busybox';

const APPLETS = ['sh', 'sleep', 'echo', 'cat', 'ls', 'true', 'false', 'env', 'id', 'hostname', 'ps', 'mkdir', 'rm', 'touch', 'wc', 'head', 'tail', 'grep', 'kill', 'mount', 'uname', 'date', 'pwd', 'stat', 'test', 'printf', 'tee', 'yes'];

/**
 * Writes a busybox rootfs into dir (created if needed): /bin/busybox with applet symlinks
 * (sh, sleep, echo, cat, …), /etc/passwd and /etc/group with root and nobody, and empty
 * /proc /sys /dev /tmp /run /root. Returns dir.
 */
export function makeBusyboxRootfs(dir: string): string {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'root']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  const bb = path.join(dir, 'bin', 'busybox');
  fs.copyFileSync(BUSYBOX_BIN, bb);
  fs.chmodSync(bb, 0o755);
  for (const a of APPLETS) {
    const link = path.join(dir, 'bin', a);
    if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
  }
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
