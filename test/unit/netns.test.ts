// Pod network namespaces on the real kernel: created by the native bindNewNetns under a
// directory made a shared mount point, each a new namespace, removed (unmount + unlink)
// idempotently. Runs as root; the temp root's cleanup unmounts whatever is left.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NetNS, NetNSError, createNetNS, isNetNS, removeNetNS } from '../../src/netns';
import { bindNewNetns } from '../../src/native';
import { makeTempRoot, mountsBelow, readMounts, type TempRoot } from '../harness';

function mountInfoLine(path: string): string | undefined {
  return execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.split(' ')[4] === path);
}

describe('netns', () => {
  let root: TempRoot;
  let base: string;
  beforeEach(() => {
    root = makeTempRoot('berth-netns-');
    base = join(root.path, 'netns');
  });
  afterEach(async () => {
    await root.cleanup();
  });

  it('creates new, distinct network namespaces pinned under a shared directory', async () => {
    const a = await createNetNS(base);
    const b = await createNetNS(base);
    expect(a.path).toMatch(new RegExp(`^${base}/cni-[0-9a-f-]{36}$`));
    expect(isNetNS(a.path) && isNetNS(b.path)).toBe(true);
    expect(a.closed()).toBe(false);
    // Each is its own namespace, neither is the test's own.
    const own = statSync('/proc/self/ns/net').ino;
    expect(new Set([own, statSync(a.path).ino, statSync(b.path).ino]).size).toBe(3);
    // Made on threads of their own: every thread of this process is still in its netns.
    for (const t of readdirSync('/proc/self/task')) expect(statSync(`/proc/self/task/${t}/ns/net`).ino).toBe(own);
    // A fresh namespace has only a loopback device, down.
    const links = execFileSync('nsenter', [`--net=${a.path}`, '--', 'ip', '-o', 'link'], { encoding: 'utf8' }).trim().split('\n');
    expect(links.length).toBe(1);
    expect(links[0]).toMatch(/^1: lo: <LOOPBACK>/);
    // The directory is a mount point of its own, shared; so is each netns mount below it.
    expect(mountInfoLine(base)).toMatch(/ shared:\d+/);
    expect(mountInfoLine(a.path)).toMatch(/ shared:\d+.* - nsfs /);

    // Creating more does not stack bind mounts of the directory.
    await (await createNetNS(base)).remove();
    expect(readMounts().filter((m) => m.mountPoint === base).length).toBe(1);

    await a.remove();
    expect(existsSync(a.path)).toBe(false);
    expect(a.closed()).toBe(true);
    expect(mountInfoLine(a.path)).toBeUndefined();
    await a.remove(); // idempotent
    await b.remove();
    expect(mountsBelow(base).map((m) => m.mountPoint)).toEqual([base]);
    expect(readdirSync(base)).toEqual([]);
  });

  it('closed: a missing path, a plain file, a directory are not network namespaces', async () => {
    await createNetNS(base).then((n) => n.remove());
    const plain = join(base, 'cni-plain');
    writeFileSync(plain, '');
    expect(isNetNS(plain)).toBe(false);
    expect(isNetNS(join(base, 'missing'))).toBe(false);
    expect(isNetNS(join(plain, 'below-a-file'))).toBe(false);
    expect(isNetNS(base)).toBe(false);
    expect(new NetNS(join(base, 'missing')).closed()).toBe(true);
    // Remove unlinks a file that is no longer mounted, and is fine with nothing there.
    await removeNetNS(plain);
    expect(existsSync(plain)).toBe(false);
    await removeNetNS(join(base, 'missing'));
  });

  it('a failed creation leaves nothing behind', async () => {
    // The real step that fails after the file is made: a bind onto a path that is not there.
    const bind = (p: string): Promise<void> => bindNewNetns(join(p, 'not-a-dir', 'x'));
    const err = await createNetNS(base, { bind }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NetNSError);
    expect((err as Error).message).toMatch(/^failed to create netns at .*\/cni-[0-9a-f-]+: /);
    expect(readdirSync(base)).toEqual([]);
    expect(mountsBelow(base).map((m) => m.mountPoint)).toEqual([base]);
  });
});
