// Cleanup after containerd's Go runc shim, which keeps state at fixed host paths:
// runc state in /run/containerd/runc/<ns>, cgroups /<ns>/…, ctr's FIFO dirs in
// /run/containerd/fifo. Tests give each run namespaces and ids of its own and remove
// exactly those.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const RUNC = fs.existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : '/usr/bin/runc';

/** runc state and cgroups the runc shim left for a namespace of ours. */
export function removeRuncLeftovers(ns: string): void {
  const root = path.join('/run/containerd/runc', ns);
  if (fs.existsSync(root)) {
    for (const id of fs.readdirSync(root)) {
      try {
        execFileSync(RUNC, ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
  for (const ctrl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
    const dir = path.join('/sys/fs/cgroup', ctrl, ns);
    if (!fs.existsSync(dir)) continue;
    for (const sub of fs.readdirSync(dir, { withFileTypes: true })) {
      if (sub.isDirectory()) {
        try {
          fs.rmdirSync(path.join(dir, sub.name));
        } catch {
          // busy or gone
        }
      }
    }
    try {
      fs.rmdirSync(dir);
    } catch {
      // busy or gone
    }
  }
}

/** ctr's FIFO dirs whose every FIFO belongs to one of our ids. */
export function removeFifoDirs(ids: Set<string>): void {
  const base = '/run/containerd/fifo';
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(base);
  } catch {
    return;
  }
  for (const d of dirs) {
    let files: string[] = [];
    try {
      files = fs.readdirSync(path.join(base, d));
    } catch {
      continue;
    }
    if (files.length > 0 && files.every((f) => [...ids].some((id) => f.startsWith(`${id}-`)))) {
      fs.rmSync(path.join(base, d), { recursive: true, force: true });
    }
  }
}
