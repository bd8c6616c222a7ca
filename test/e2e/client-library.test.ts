import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  Client,
  type Container,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  type DaemonEvent,
} from '../../src/client';
import { withEnv, withImageConfig, withMemoryLimit, withProcessArgs, withProcessCwd, withUser } from '../../src/oci';
import { CTR_BIN, RUNC, sleep } from '../harness';
import { SideBySide, uid, type Side } from './sides';

// The client library (src/client) against berthd and a real containerd 1.6.20 in the
// same run: every high-level call does the same thing on both, down to the error class.

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');
const IMAGE = 'docker.io/library/berth-client:1';

let pair: SideBySide;
const clients = new Map<Side, Client>();
let baseSpec: Record<string, unknown>;

function client(s: Side): Client {
  return clients.get(s)!;
}

/** containerd's default spec (`ctr oci spec`, oci.GenerateSpec) with args, env and the container's cgroup. */
function spec(s: Side, id: string, args: string[], extra: { terminal?: boolean } = {}): Record<string, unknown> {
  const sp = structuredClone(baseSpec) as { process: Record<string, unknown>; linux: Record<string, unknown> };
  sp.process.args = args;
  sp.process.env = ['PATH=/bin'];
  sp.process.terminal = extra.terminal === true;
  sp.linux.cgroupsPath = `/${s.ns}/${id}`;
  return sp;
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  return { stream, text: () => Buffer.concat(parts).toString('utf8') };
}

/** Runs the container's task to its exit with stdout collected, then deletes the task and
 * the container with its snapshot. */
async function runToExit(container: Container): Promise<{ code: number; out: string }> {
  const out = collect();
  const task = await container.newTask({ stdout: out.stream });
  const exited = task.wait();
  await task.start();
  const st = await exited;
  await task.delete();
  await container.delete({ withSnapshot: true });
  return { code: st.code, out: out.text() };
}

async function className(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as Error).constructor.name;
  }
}

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'clientlib', image: IMAGE });
  baseSpec = JSON.parse(execFileSync(CTR_BIN, ['oci', 'spec'], { encoding: 'utf8' })) as Record<string, unknown>;
  for (const s of [pair.B, pair.C]) clients.set(s, Client.connect(s.address, { namespace: s.ns }));
}, 180_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await pair?.cleanup();
});

describe.skipIf(!canRun)('client library on berthd and containerd', () => {
  it('version, namespaces and typed errors', async () => {
    const [vb, vc] = await pair.both((s) => client(s).version());
    expect(vb.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(vc.version).toMatch(/^\d+\.\d+\.\d+/);
    const r = await pair.both(async (s) => {
      const c = client(s);
      const name = `${s.ns}-extra`;
      const created = await c.namespaces.create(name, { a: '1' });
      const dup = await className(c.namespaces.create(name));
      const updated = await c.namespaces.setLabels(name, { b: '2' });
      const listed = (await c.namespaces.list()).some((n) => n.name === name);
      await c.namespaces.delete(name);
      // (containerd 1.6 answers Get of a missing namespace with OK and no labels.)
      const missing = (await c.namespaces.list()).some((n) => n.name === name) ? 'listed' : 'gone';
      const bad = await className(c.namespaces.create('Not_Valid!'));
      return { created: created.labels, dup, updated: updated.labels, listed, missing, bad };
    });
    expect(r[0]).toEqual({ created: { a: '1' }, dup: 'AlreadyExistsError', updated: { b: '2' }, listed: true, missing: 'gone', bad: 'InvalidArgumentError' });
    expect(r[1]).toEqual(r[0]);
    await expect(client(pair.B).leases.delete('nope-none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client(pair.C).leases.delete('nope-none')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client(pair.C).namespaces.create('Bad Name')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('an absent socket is UnavailableError', async () => {
    const c = Client.connect(`${pair.tmp.path}/no-such.sock`);
    try {
      await expect(c.version()).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      c.close();
    }
  });

  it('content: write, info, read, list, labels, delete, a wrong digest', async () => {
    const data = Buffer.from(`client content ${Date.now()}\n`.repeat(50_000)); // > 1 MiB: several WRITEs
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const r = await pair.both((s) =>
      client(s).withLease(async (c) => {
        const d = await c.content.write(data, { labels: { x: 'y' } });
        const info = await c.content.info(d);
        const whole = await c.content.readAll(d);
        const pieces: Buffer[] = [];
        for await (const b of c.content.read(d, { offset: 10, size: 20 })) pieces.push(b);
        const part = Buffer.concat(pieces);
        const listed: string[] = [];
        for await (const i of c.content.list([`digest==${d}`])) listed.push(i.digest);
        const relabelled = await c.content.setLabels(d, { z: '1' });
        const again = await c.content.write(data, { expected: d });
        const wrong = await className(c.content.write(Buffer.from('other'), { expected: digest.replace(/.$/, digest.endsWith('0') ? '1' : '0'), total: 5 }));
        await c.content.delete(d);
        const gone = await className(c.content.info(d));
        return { d, size: info.size, labels: info.labels, same: whole.equals(data), part: part.toString(), listed, relabelled: relabelled.labels, again, wrong, gone };
      }),
    );
    expect(r[0]).toEqual({
      d: digest,
      size: data.length,
      labels: { x: 'y' },
      same: true,
      part: data.subarray(10, 30).toString(),
      listed: [digest],
      relabelled: { z: '1' },
      again: digest,
      wrong: 'FailedPreconditionError',
      gone: 'NotFoundError',
    });
    expect(r[1]).toEqual(r[0]);
  });

  it('leases: withLease holds what it makes and is deleted after', async () => {
    const r = await pair.both(async (s) => {
      let inside = '';
      let resources: string[] = [];
      const blob = Buffer.from(`leased ${s.ns}`);
      await client(s).withLease(async (c) => {
        inside = c.lease ?? '';
        await c.content.write(blob);
        resources = (await c.leases.resources(inside)).map((x) => x.type);
      });
      const after = (await client(s).leases.list()).map((l) => l.id);
      return { hadLease: inside !== '', resources, leftover: after.includes(inside) };
    });
    expect(r[0]).toEqual({ hadLease: true, resources: ['content'], leftover: false });
    expect(r[1]).toEqual(r[0]);
  });

  it('snapshots: prepare, mounts, commit, stat, list, usage, remove', async () => {
    // Under a lease, as a real client works: snapshots nothing else references would be
    // fair game for a garbage collection between two calls.
    const r = await pair.both((s) => client(s).withLease(async (c) => {
      const snap = c.snapshotter('overlayfs');
      const key = uid('snap');
      const mounts = await snap.prepare(key, '', { 'containerd.io/gc.root': 'x' });
      const again = await snap.mounts(key);
      await snap.commit(`${key}-c`, key, { 'containerd.io/gc.root': 'x' });
      const st = await snap.stat(`${key}-c`);
      const names: string[] = [];
      for await (const i of snap.list([`name==${key}-c`])) names.push(i.name);
      const usage = await snap.usage(`${key}-c`);
      const dup = await className(snap.prepare(`${key}-v`, `${key}-c`).then(() => snap.prepare(`${key}-v`, `${key}-c`)));
      await snap.remove(`${key}-v`);
      await snap.remove(`${key}-c`);
      const gone = await className(snap.stat(`${key}-c`));
      return { types: mounts.map((m) => m.type), same: JSON.stringify(again) === JSON.stringify(mounts), kind: st.kind, names: names.length, usageOk: usage.size >= 0, dup, gone };
    }));
    expect(r[0]).toEqual({ types: ['bind'], same: true, kind: 'COMMITTED', names: 1, usageOk: true, dup: 'AlreadyExistsError', gone: 'NotFoundError' });
    expect(r[1]).toEqual(r[0]);
  });

  it('images: get, list, resolve, create, update, delete', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const img = await c.getImage(IMAGE);
      const resolved = await c.resolveImage(img);
      const tag = `${IMAGE}-tag`;
      await c.images.create({ name: tag, target: img.target! });
      const dup = await className(c.images.create({ name: tag, target: img.target! }));
      const updated = await c.images.update({ name: tag, target: img.target!, labels: { l: 'v' } }, ['labels']);
      const names = (await c.listImages()).map((i) => i.name).sort();
      await c.images.delete(tag, { sync: true });
      const gone = await className(c.getImage(tag));
      return { target: img.target!.digest, chain: resolved.chainId, cmd: resolved.config.config?.Cmd, labels: updated.labels, names, dup, gone };
    });
    expect(r[0].chain).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r[0]).toMatchObject({ cmd: ['/bin/sh'], labels: { l: 'v' }, names: [IMAGE, `${IMAGE}-tag`], dup: 'AlreadyExistsError', gone: 'NotFoundError' });
    expect(r[1]).toEqual(r[0]);
  });

  it('containers and tasks: output, exit code, stdin, delete with the snapshot', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const id = pair.track(s, uid('run'));
      const leasesBefore = new Set((await c.leases.list()).map((l) => l.id));
      const container = await c.newContainer(id, { image: IMAGE, spec: spec(s, id, ['sh', '-c', 'echo out; echo err >&2; read line; echo "got $line"; exit 3']), labels: { k: 'v' } });
      const info = await container.info();
      const out = collect();
      const err = collect();
      const task = await container.newTask({ stdin: Readable.from([Buffer.from('hello\n')]), stdout: out.stream, stderr: err.stream });
      const exited = task.wait();
      await task.start();
      const status = await exited;
      const deleted = await task.delete();
      // newContainer's own lease: its deletion is not waited for, but is long answered by now.
      const leasesLeft = (await c.leases.list()).filter((l) => !leasesBefore.has(l.id)).length;
      const listed = (await c.containers([`labels.k==v`])).map((x) => x.id);
      const dupContainer = await className(c.newContainer(id, { spec: spec(s, id, ['true']) }));
      await container.delete({ withSnapshot: true });
      const snapGone = await className(c.snapshotter().stat(id));
      const loadGone = await className(c.loadContainer(id));
      return {
        image: info.image,
        snapshotter: info.snapshotter,
        key: info.snapshot_key === id,
        out: out.text(),
        err: err.text(),
        code: status.code,
        exitedAt: status.exitedAt instanceof Date,
        deleted: deleted.code,
        leasesLeft,
        listed: listed.includes(id),
        dupContainer,
        snapGone,
        loadGone,
      };
    });
    expect(r[0]).toEqual({
      image: IMAGE,
      snapshotter: 'overlayfs',
      key: true,
      out: 'out\ngot hello\n',
      err: 'err\n',
      code: 3,
      exitedAt: true,
      deleted: 3,
      leasesLeft: 0,
      listed: true,
      dupContainer: 'AlreadyExistsError',
      snapGone: 'NotFoundError',
      loadGone: 'NotFoundError',
    });
    expect(r[1]).toEqual(r[0]);
  });

  it('spec options (src/oci) over the image config, with the snapshot mounted for user lookups', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const id = pair.track(s, uid('opts'));
      const container = await c.newContainer(id, {
        image: IMAGE,
        specOpts: (img) => [
          withImageConfig(img!.config.config ?? {}),
          withEnv(['FOO=bar']),
          withProcessCwd('/tmp'),
          withUser('12:34'),
          withMemoryLimit(64 << 20),
          withProcessArgs('sh', '-c', 'echo "$(id -u):$(id -g) $FOO $PATH $(pwd)"'),
        ],
      });
      const sp = (await container.spec()) as { process: { user: { uid: number } }; linux: { cgroupsPath: string; resources: { memory: { limit: number } } } };
      const st = await runToExit(container);
      return { code: st.code, out: st.out, cgroupsPath: sp.linux.cgroupsPath === `/${s.ns}/${id}`, uid: sp.process.user.uid, memory: sp.linux.resources.memory.limit };
    });
    expect(r[0]).toEqual({ code: 0, out: '12:34 bar /bin /tmp\n', cgroupsPath: true, uid: 12, memory: 64 << 20 });
    expect(r[1]).toEqual(r[0]);
  });

  it('a terminal: tty, resize, one output stream', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const id = pair.track(s, uid('tty'));
      const container = await c.newContainer(id, { image: IMAGE, spec: spec(s, id, ['sh', '-c', 'read x; stty size; tty; echo err >&2'], { terminal: true }) });
      const out = collect();
      const task = await container.newTask({ terminal: true, stdin: 'pipe', stdout: out.stream });
      const exited = task.wait();
      await task.start();
      await task.resize(91, 27);
      task.io!.stdin!.write('go\n');
      const status = await exited;
      await task.delete();
      await container.delete({ withSnapshot: true });
      // The terminal echoes input and turns \n into \r\n.
      return { code: status.code, out: out.text().replace(/\r\n/g, '\n') };
    });
    expect(r[0]).toEqual({ code: 0, out: 'go\n27 91\n/dev/pts/0\nerr\n' });
    expect(r[1]).toEqual(r[0]);
  });

  it('exec, pids, pause, resume, metrics, kill', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const id = pair.track(s, uid('ops'));
      const container = await c.newContainer(id, { image: IMAGE, spec: spec(s, id, ['sleep', '60']) });
      const task = await container.newTask();
      const exited = task.wait();
      await task.start();
      const out = collect();
      const proc = await task.exec('e1', { spec: { args: ['sh', '-c', 'echo exec $0; exit 7', 'ran'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }, stdout: out.stream });
      const procExit = proc.wait();
      await proc.start();
      const pe = await procExit;
      await proc.delete();
      const pids = (await task.pids()).map((p) => p.pid);
      await task.pause();
      const paused = (await task.status()).status;
      const pauseTwice = await className(task.pause());
      await task.resume();
      const running = (await task.status()).status;
      const m = await task.metrics();
      const tasks = (await c.tasks()).map((t) => t.id);
      const stillRunning = await className(task.delete());
      await task.kill('SIGKILL');
      const st = await exited;
      await task.delete();
      const noTask = await className(container.task());
      await container.delete({ withSnapshot: true });
      return { execOut: out.text(), execCode: pe.code, hasPid: pids.includes(task.pid), paused, pauseTwice, running, metric: m?.id === id, metricType: m?.type ?? '', metricPids: m?.version === 1 ? m.metrics.pids?.current : m?.version === 2 ? m.metrics.pids?.current : -1, tasks: tasks.includes(id), stillRunning, killed: st.code, noTask };
    });
    expect(r[0]).toEqual({
      execOut: 'exec ran\n',
      execCode: 7,
      hasPid: true,
      paused: 'PAUSED',
      pauseTwice: r[0].pauseTwice,
      running: 'RUNNING',
      metric: true,
      metricType: r[0].metricType,
      metricPids: 1,
      tasks: true,
      stillRunning: 'FailedPreconditionError',
      killed: 137,
      noTask: 'NotFoundError',
    });
    expect(r[0].metricType).toMatch(/cgroups/);
    expect(r[1]).toEqual(r[0]);
  });

  it('events as an async iterator, ended by an AbortSignal', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const ac = new AbortController();
      const seen: DaemonEvent[] = [];
      const reading = (async () => {
        try {
          for await (const e of c.events([`namespace==${s.ns},topic~="^/containers/"`], { signal: ac.signal })) {
            seen.push(e);
            if (e.topic === '/containers/delete') ac.abort();
          }
          return 'ended';
        } catch (err) {
          return (err as Error).name;
        }
      })();
      await sleep(300); // the subscription is in place before the events happen
      const id = pair.track(s, uid('ev'));
      const container = await c.newContainer(id, { spec: spec(s, id, ['true']) });
      await container.delete();
      const how = await reading;
      return { how, topics: seen.map((e) => e.topic), ids: seen.map((e) => e.event?.id), types: seen.map((e) => e.type), ns: seen.every((e) => e.namespace === s.ns) };
    });
    expect(r[0]).toEqual({
      how: 'AbortError',
      topics: ['/containers/create', '/containers/delete'],
      ids: [r[0].ids[0], r[0].ids[0]],
      types: ['containerd.events.ContainerCreate', 'containerd.events.ContainerDelete'],
      ns: true,
    });
    expect(r[1]).toEqual({ ...r[0], ids: r[1].ids });
  });

  it('an aborted call rejects with the signal reason; a deadline with DeadlineExceeded', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const id = pair.track(s, uid('abort'));
      const container = await c.newContainer(id, { image: IMAGE, spec: spec(s, id, ['sleep', '60']) });
      const task = await container.newTask();
      await task.start();
      const ac = new AbortController();
      const waiting = task.wait({ signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      const aborted = await waiting.then(() => 'resolved', (e: Error) => e.name);
      const deadline = await task.wait({ timeoutMs: 100 }).then(() => 'resolved', (e: Error & { code?: number }) => `${e.constructor.name}:${e.code ?? ''}`);
      const pre = new AbortController();
      pre.abort();
      const already = await c.version({ signal: pre.signal }).then(() => 'resolved', (e: Error) => e.name);
      // The connection is still good after cancelled calls.
      const v = (await c.version()).version !== '';
      await task.kill('SIGKILL');
      await task.wait();
      await task.delete();
      await container.delete({ withSnapshot: true });
      return { aborted, deadline, already, v };
    });
    expect(r[0]).toEqual({ aborted: 'AbortError', deadline: 'StatusError:4', already: 'AbortError', v: true });
    expect(r[1]).toEqual(r[0]);
  });

  it('export and import: an OCI archive round trip, read by ctr too, unpacked and run', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      const file = `${pair.tmp.path}/export-${s.name}.tar`;
      await c.export([IMAGE], fs.createWriteStream(file));
      // Into a fresh namespace: the library's import, then ctr's import of the same file.
      const other = c.withNamespace(`${s.ns}-imp`);
      const images = await other.import(fs.createReadStream(file));
      const chain = (await other.resolveImage(IMAGE)).chainId;
      const unpacked = await other.snapshotter().stat(chain).then(() => true, () => false);
      const side = { ...s, ns: `${s.ns}-imp` };
      const id = pair.track(side, uid('imp'));
      const container = await other.newContainer(id, { image: IMAGE, spec: spec(side, id, ['sh', '-c', 'echo imported']) });
      const st = await runToExit(container);
      const viaCtr = execFileSync(CTR_BIN, ['-a', s.address, '-n', `${s.ns}-ctr`, 'images', 'import', file], { encoding: 'utf8' });
      const ctrCheck = execFileSync(CTR_BIN, ['-a', s.address, '-n', `${s.ns}-ctr`, 'images', 'check'], { encoding: 'utf8' });
      // And ctr's own export imports through the library.
      const ctrFile = `${pair.tmp.path}/ctr-export-${s.name}.tar`;
      execFileSync(CTR_BIN, ['-a', s.address, '-n', s.ns, 'images', 'export', ctrFile, IMAGE]);
      const third = c.withNamespace(`${s.ns}-imp2`);
      const fromCtr = (await third.import(fs.createReadStream(ctrFile), { unpack: false })).map((i) => i.name);
      return {
        names: images.map((i) => i.name),
        same: images[0]!.target!.digest === (await c.getImage(IMAGE)).target!.digest,
        unpacked,
        out: st.out,
        code: st.code,
        ctrImported: viaCtr.includes(IMAGE),
        ctrComplete: /complete/.test(ctrCheck),
        fromCtr,
      };
    });
    expect(r[0]).toEqual({ names: [IMAGE], same: true, unpacked: true, out: 'imported\n', code: 0, ctrImported: true, ctrComplete: true, fromCtr: [IMAGE] });
    expect(r[1]).toEqual(r[0]);
  });

  it('newContainer with an image that is not unpacked is FailedPreconditionError', async () => {
    const r = await pair.both(async (s) => {
      const c = client(s);
      return className(c.newContainer(uid('nounpack'), { image: IMAGE, snapshotter: 'native', spec: spec(s, 'x', ['true']) }));
    });
    expect(r).toEqual(['FailedPreconditionError', 'FailedPreconditionError']);
    await expect(client(pair.B).newContainer(uid('nounpack'), { image: IMAGE, snapshotter: 'native', spec: {} })).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(client(pair.C).images.create({ name: IMAGE, target: (await client(pair.C).getImage(IMAGE)).target! })).rejects.toBeInstanceOf(AlreadyExistsError);
  });
});
