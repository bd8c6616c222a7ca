import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bundle } from '../../src/runtime/bundle';
import { mount, nativeAvailable } from '../../src/native';

let dir: string;
const state = (): string => path.join(dir, 'state', 'tasks');
const root = (): string => path.join(dir, 'root', 'tasks');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'runtime-bundle-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('task bundles', () => {
  it('lays out a bundle as containerd does', async () => {
    const spec = Buffer.from('{"ociVersion":"1.0.2"}\n');
    const b = await Bundle.create(state(), root(), 'ns', 'b1', spec);
    expect(b.path).toBe(path.join(state(), 'ns', 'b1'));
    expect(fs.readFileSync(path.join(b.path, 'config.json'))).toEqual(spec);
    expect(fs.statSync(b.path).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(state(), 'ns')).mode & 0o777).toBe(0o711);
    expect(fs.statSync(b.rootfs).mode & 0o777).toBe(0o711);
    expect(fs.readlinkSync(path.join(b.path, 'work'))).toBe(path.join(root(), 'ns', 'b1'));
    expect(fs.statSync(path.join(root(), 'ns', 'b1')).mode & 0o777).toBe(0o711);
    await b.writeFile('address', 'unix:///x');
    expect(await b.readFile('address')).toBe('unix:///x');
    expect(await b.readFile('missing')).toBeUndefined();
    await b.delete();
    expect(fs.existsSync(b.path)).toBe(false);
    expect(fs.existsSync(path.join(root(), 'ns', 'b1'))).toBe(false);
    // The trees were renamed away and go in the background; the id is free at once.
    const again = await Bundle.create(state(), root(), 'ns', 'b1', spec);
    await again.delete();
    for (let i = 0; i < 100 && fs.readdirSync(path.join(state(), 'ns')).length + fs.readdirSync(path.join(root(), 'ns')).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(fs.readdirSync(path.join(state(), 'ns'))).toEqual([]);
    expect(fs.readdirSync(path.join(root(), 'ns'))).toEqual([]);
    await b.delete(); // twice is fine
  });

  it('refuses an invalid id and an existing bundle, leaving nothing behind', async () => {
    await expect(Bundle.create(state(), root(), 'ns', 'bad/id', Buffer.from('{}'))).rejects.toThrow(/^invalid task id bad\/id: identifier/);
    const b = await Bundle.create(state(), root(), 'ns', 'twice', Buffer.from('{}'));
    await expect(Bundle.create(state(), root(), 'ns', 'twice', Buffer.from('{}'))).rejects.toThrow(/EEXIST/);
    expect(fs.existsSync(path.join(b.path, 'config.json'))).toBe(true);
    await b.delete();
  });

  it('gives the remapped root group access with user namespaces', async () => {
    if (process.getuid?.() !== 0) return;
    const spec = Buffer.from(JSON.stringify({ linux: { gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] } }));
    const b = await Bundle.create(state(), root(), 'ns', 'userns', spec);
    const st = fs.statSync(b.path);
    expect(st.gid).toBe(100000);
    expect(st.mode & 0o777).toBe(0o710);
    await b.delete();
  });

  it.skipIf(process.getuid?.() !== 0 || !nativeAvailable())('unmounts a mounted rootfs (stacked mounts too) on delete', async () => {
    const b = await Bundle.create(state(), root(), 'ns', 'mounted', Buffer.from('{}'));
    mount('tmpfs', b.rootfs, 'tmpfs', 0, 'size=1m');
    mount('tmpfs', b.rootfs, 'tmpfs', 0, 'size=1m');
    fs.writeFileSync(path.join(b.rootfs, 'f'), 'x');
    await b.delete();
    expect(fs.existsSync(b.path)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.rootfs);
  });
});
