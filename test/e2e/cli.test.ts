import { execSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CTR_BIN, RUNC, ctrOk } from '../harness';
import { SideBySide, uid, type Side } from './sides';

// The berth CLI against berthd and a real containerd 1.6.20 in the same run: each command
// does the same on both (tables, --json, exit codes), checked against what ctr sees.

const BERTH = join(__dirname, '..', '..', 'bin', 'berth');
const IMAGE = 'docker.io/library/berth-cli:1';
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

let pair: SideBySide;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(s: Side, args: string[], input?: string): Out {
  // `run -d` writes a log file under the CLI's state dir: the test's own.
  const env = { ...process.env, BERTH_CLI_STATE_DIR: join(pair.tmp.path, 'cli-state') };
  const r = spawnSync(BERTH, ['-a', s.address, '-n', s.ns, ...args], { encoding: 'utf8', timeout: 60_000, input: input ?? '', env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same berth command on both sides; ids and the side's namespace masked. */
function both(args: (s: Side) => string[], input?: string): [Out, Out] {
  const mask = (s: Side, o: Out): Out => {
    const m = (t: string): string => t.split(s.ns).join('<NS>').replace(/ {2,}/g, ' ');
    return { code: o.code, stdout: m(o.stdout), stderr: m(o.stderr) };
  };
  return [mask(pair.B, berth(pair.B, args(pair.B), input)), mask(pair.C, berth(pair.C, args(pair.C), input))];
}

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'berthcli', image: IMAGE });
}, 180_000);
afterAll(async () => {
  await pair?.cleanup();
});

describe.skipIf(!canRun)('berth CLI on berthd and containerd', () => {
  it('version, plugins', () => {
    const [b, c] = both(() => ['version']);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^Client:\n Version: \d+\.\d+\.\d+/);
    expect(c.stdout).toMatch(/Server:\n Version: 1\.6\.20/);
    const [pb, pc] = both(() => ['--json', 'plugins', 'ls']);
    for (const p of [pb, pc]) expect((JSON.parse(p.stdout) as Array<{ id: string }>).map((x) => x.id)).toContain('overlayfs');
    expect(both(() => ['plugins', 'ls'])[1].stdout).toMatch(/^TYPE\s+ID\s+STATUS\n/);
  });

  it('namespaces: create, label, ls, rm', () => {
    const r = both((s) => ['namespaces', 'create', `${s.ns}-x`, 'a=1']);
    expect(r[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(both((s) => ['namespaces', 'label', `${s.ns}-x`, 'b=2'])[0].stdout).toBe('a=1,b=2\n');
    const ls = both(() => ['--json', 'namespaces', 'ls']);
    for (const o of ls) {
      expect((JSON.parse(o.stdout) as Array<{ name: string; labels: object }>).find((n) => n.name === '<NS>-x')).toEqual({ name: '<NS>-x', labels: { a: '1', b: '2' } });
    }
    const rm = both((s) => ['namespaces', 'rm', `${s.ns}-x`]);
    expect(rm[0]).toEqual({ code: 0, stdout: '<NS>-x\n', stderr: '' });
    expect(rm[1]).toEqual(rm[0]);
  });

  it('images: ls, tag, check, inspect, label, rm', () => {
    const ls = both(() => ['images', 'ls', '-q']);
    expect(ls[0].stdout).toBe(`${IMAGE}\n`);
    expect(ls[1]).toEqual(ls[0]);
    const tag = both(() => ['images', 'tag', IMAGE, `${IMAGE}-b`]);
    expect(tag[0]).toEqual({ code: 0, stdout: `${IMAGE}-b\n`, stderr: '' });
    expect(tag[1]).toEqual(tag[0]);
    const check = both(() => ['images', 'check']);
    expect(check[0].stdout).toMatch(new RegExp(`^REF STATUS SIZE UNPACKED\\n${IMAGE} complete [\\d.]+ \\w+ true\\n${IMAGE}-b complete`));
    expect(check[1]).toEqual(check[0]);
    const inspect = both(() => ['images', 'inspect', IMAGE]);
    const [ib, ic] = inspect.map((o) => JSON.parse(o.stdout) as { chainId: string; config: { config: { Cmd: string[] } } });
    expect(ib!.config.config.Cmd).toEqual(['/bin/sh']);
    expect(ib!.chainId).toBe(ic!.chainId);
    expect(both(() => ['images', 'label', `${IMAGE}-b`, 'x=y'])[1].stdout).toBe('x=y\n');
    const rm = both(() => ['images', 'rm', `${IMAGE}-b`]);
    expect(rm[0]).toEqual({ code: 0, stdout: `${IMAGE}-b\n`, stderr: '' });
    expect(rm[1]).toEqual(rm[0]);
    const missing = both(() => ['images', 'rm', 'nope:1']);
    expect(missing[0].code).toBe(125);
    expect(missing[0].stderr).toContain('not found');
    expect(missing[1].code).toBe(125);
  });

  it('images export and import (file and stdin), then run from the import', () => {
    const files = new Map<Side, string>();
    const ex = both((s) => {
      files.set(s, join(pair.tmp.path, `cli-export-${s.name}.tar`));
      return ['images', 'export', files.get(s)!, IMAGE];
    });
    expect(ex[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(ex[1]).toEqual(ex[0]);
    const imp = both((s) => ['-n', `${s.ns}-imp`, 'images', 'import', files.get(s)!]);
    expect(imp[0].code).toBe(0);
    expect(imp[0].stdout).toMatch(new RegExp(`^${IMAGE.replace(/[.]/g, '\\.')} sha256:[0-9a-f]{64} \\(unpacked\\)\n$`));
    expect(imp[1]).toEqual(imp[0]);
    const viaStdin = [pair.B, pair.C].map((s) => {
      const r = spawnSync(BERTH, ['-a', s.address, '-n', `${s.ns}-imp2`, '--json', 'images', 'import', '--no-unpack', '-'], { input: fs.readFileSync(files.get(s)!), encoding: 'utf8' });
      return { code: r.status, names: (JSON.parse(r.stdout) as Array<{ name: string }>).map((i) => i.name) };
    });
    expect(viaStdin).toEqual([{ code: 0, names: [IMAGE] }, { code: 0, names: [IMAGE] }]);
    const run = both((s) => ['-n', `${s.ns}-imp`, 'run', '--rm', IMAGE, uid('impr'), 'echo', 'from import']);
    expect(run[0]).toEqual({ code: 0, stdout: 'from import\n', stderr: '' });
    expect(run[1]).toEqual(run[0]);
    const notOci = both(() => ['images', 'import', '/etc/hostname']);
    expect(notOci[0].code).toBe(125);
  });

  it('run --rm: output, exit code, env, cwd, user, limits; the container is gone after', () => {
    const r = both((s) => [
      'run', '--rm', '--env', 'A=b', '--cwd', '/tmp', '--user', '5:6', '--memory-limit', String(64 << 20), '--cpus', '0.5',
      IMAGE, pair.track(s, uid('run')), 'sh', '-c', 'echo "$A $(pwd) $(id -u):$(id -g)"; echo oops >&2; exit 4',
    ]);
    expect(r[0]).toEqual({ code: 4, stdout: 'b /tmp 5:6\n', stderr: 'oops\n' });
    expect(r[1]).toEqual(r[0]);
    expect(both(() => ['containers', 'ls', '-q'])[0].stdout).toBe('\n');
  });

  it('run -i copies stdin; a missing command exits 127; bad flags 125', () => {
    const r = both((s) => ['run', '--rm', '-i', IMAGE, pair.track(s, uid('in')), 'sh', '-c', 'tr a-z A-Z'], 'hello\n');
    expect(r[0]).toEqual({ code: 0, stdout: 'HELLO\n', stderr: '' });
    expect(r[1]).toEqual(r[0]);
    const nf = both((s) => ['run', '--rm', IMAGE, pair.track(s, uid('nf')), '/no/such']);
    expect(nf[0].code).toBe(127);
    expect(nf[1].code).toBe(127);
    const bad = both(() => ['run', '--frob', IMAGE, 'x']);
    expect(bad[0].code).toBe(125);
    expect(bad[0].stderr).toContain("Unknown option '--frob'");
  });

  it('run --mount and --net-host', () => {
    const dir = fs.mkdtempSync(join(pair.tmp.path, 'mnt-'));
    fs.writeFileSync(join(dir, 'f'), 'from host\n');
    const r = both((s) => ['run', '--rm', '--net-host', '--mount', `type=bind,src=${dir},dst=/data,options=rbind:ro`, IMAGE, pair.track(s, uid('mnt')), 'sh', '-c', 'cat /data/f; ls /sys/class/net | grep -c . ; touch /data/g 2>/dev/null || echo ro']);
    const hostIfaces = fs.readdirSync('/sys/class/net').length;
    expect(r[0]).toEqual({ code: 0, stdout: `from host\n${hostIfaces}\nro\n`, stderr: '' });
    expect(r[1]).toEqual(r[0]);
  });

  it.skipIf(!fs.existsSync('/usr/bin/script'))('run -t gets a terminal like ctr run -t (driven through script(1))', async () => {
    const underPty = (argv: string[]): Promise<{ code: number | null; output: string }> =>
      new Promise((resolve) => {
        const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
        const child = spawn('/usr/bin/script', ['-qec', quoted, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr.on('data', (b: Buffer) => (out += b.toString()));
        const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), 30_000);
        child.once('close', (code) => {
          clearTimeout(timer);
          // The terminal echoes a NUL that reaches the container's input (ctr's and berth's
          // run -t both attach it) as ^@, before or after the output as timing has it: not
          // part of the output.
          resolve({ code, output: out.replace(/\r/g, '').replace(/\^@/g, '') });
        });
        child.stdin.end();
      });
    const cmd = ['sh', '-c', 'tty; echo "TERM=$TERM"; [ -t 0 ] && echo "stdin is a tty"; exit 5'];
    const ctrRun = (s: typeof pair.B): Promise<{ code: number | null; output: string }> =>
      underPty([CTR_BIN, '-a', s.address, '-n', s.ns, 'run', '--rm', '-t', IMAGE, pair.track(s, uid('ttyc')), ...cmd]);
    const r = await Promise.all(
      [pair.B, pair.C].flatMap((s) => [
        underPty([process.execPath, BERTH, '-a', s.address, '-n', s.ns, 'run', '--rm', '-t', IMAGE, pair.track(s, uid('tty')), ...cmd]),
        ctrRun(s),
      ]),
    );
    const output = /^\/dev\/pts\/\d+\nTERM=xterm\nstdin is a tty\n$/;
    // ctr 1.6.20's task.Delete closes its FIFOs before it waits for its copies (task.go:
    // io.Close, then io.Wait), and containerd's runc shim does not hold the exit report
    // until the output is copied (it usually wins the race; src/shim/container.ts): ctr on
    // containerd loses a fast process's output now and then (tasks.test.ts measured 1 run
    // in 300 through pipes). That run is tried again, up to twice, its exit code right
    // every time. berth's shim reports a terminal process's exit once its output is in the
    // client's FIFO: the runs against berthd get one attempt.
    for (let a = 0; a < 2 && r[3]!.code === 5 && !output.test(r[3]!.output); a++) r[3] = await ctrRun(pair.C);
    // Each named, so that a failure says whose run it was (one CI run saw a run with exit 5
    // and no output at all, under load; not reproduced alone).
    const names = ['berth on berthd', 'ctr on berthd', 'berth on containerd', 'ctr on containerd'];
    const want = { code: 5, output: expect.stringMatching(output) as unknown };
    expect(Object.fromEntries(names.map((n, i) => [n, r[i]]))).toEqual(Object.fromEntries(names.map((n) => [n, want])));
  });

  it('run -d, then tasks ls/ps/exec/pause/resume/metrics/kill/rm, containers ls/info/label/rm', async () => {
    const ids = new Map<Side, string>();
    const id = (s: Side): string => ids.get(s) ?? (ids.set(s, pair.track(s, uid('det'))), ids.get(s)!);
    const run = both((s) => ['run', '-d', IMAGE, id(s), 'sleep', '60']);
    expect(run[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run[1]).toEqual(run[0]);
    const ls = both((s) => ['--json', 'tasks', 'ls']).map((o) => (JSON.parse(o.stdout) as Array<{ status: string }>).map((t) => t.status));
    expect(ls).toEqual([['RUNNING'], ['RUNNING']]);
    const ps = both((s) => ['tasks', 'ps', id(s)]);
    expect(ps[0].stdout).toMatch(/^PID INFO\n\d+ /);
    const ex = both((s) => ['tasks', 'exec', '--exec-id', 'e1', id(s), 'sh', '-c', 'echo in $(hostname); exit 9']);
    expect(ex[0]).toEqual({ code: 9, stdout: `in ${execSync('hostname').toString().trim()}\n`, stderr: '' });
    expect(ex[1]).toEqual(ex[0]);
    expect(both((s) => ['tasks', 'pause', id(s)])).toEqual([{ code: 0, stdout: '', stderr: '' }, { code: 0, stdout: '', stderr: '' }]);
    expect(both((s) => ['--json', 'tasks', 'ls']).map((o) => (JSON.parse(o.stdout) as Array<{ status: string }>)[0]!.status)).toEqual(['PAUSED', 'PAUSED']);
    both((s) => ['tasks', 'resume', id(s)]);
    const m = both((s) => ['--json', 'tasks', 'metrics', id(s)]).map((o) => (JSON.parse(o.stdout) as { type: string }).type);
    expect(m[0]).toMatch(/cgroups/);
    expect(m[1]).toBe(m[0]);
    const notStopped = both((s) => ['tasks', 'rm', id(s)]);
    expect(notStopped[0].code).toBe(125);
    expect(notStopped[0].stderr).toContain('must be stopped');
    expect(notStopped[1].code).toBe(125);
    expect(both((s) => ['tasks', 'kill', '-s', 'KILL', id(s)])[0].code).toBe(0);
    const rm = both((s) => ['tasks', 'rm', '-f', id(s)]);
    expect(rm[0].code).toBe(0);
    expect(rm[1].code).toBe(0);
    const cls = both(() => ['containers', 'ls']);
    expect(cls[0].stdout).toMatch(new RegExp(`^CONTAINER IMAGE RUNTIME\\ndet-\\w+ ${IMAGE} io.containerd.runc.v2\\n$`));
    const info = both((s) => ['containers', 'info', '--spec', id(s)]).map((o) => (JSON.parse(o.stdout) as { process: { args: string[] } }).process.args);
    expect(info).toEqual([['sleep', '60'], ['sleep', '60']]);
    // Next to the label `run -d` sets: where the container's log file is.
    expect(both((s) => ['containers', 'label', id(s), 'k=v'])[0].stdout).toMatch(/^io\.berth\.cli\/log-file=\/\S+\/det-\w+\.log,k=v\n$/);
    const crm = both((s) => ['containers', 'rm', id(s)]);
    expect(crm[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(crm[1]).toEqual(crm[0]);
    for (const s of [pair.B, pair.C]) {
      const snaps = await ctrOk(s.address, ['snapshots', 'ls'], { namespace: s.ns });
      expect(snaps.stdout).not.toContain(id(s));
    }
  });

  it('tasks start -d and attach', async () => {
    const ids = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) {
      ids.set(s, pair.track(s, uid('att')));
      await ctrOk(s.address, ['containers', 'create', IMAGE, ids.get(s)!, 'sleep', '30'], { namespace: s.ns });
    }
    const started = both((s) => ['tasks', 'start', '-d', ids.get(s)!]);
    expect(started[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    // A detached task has no stdio to attach: attach waits for its exit and returns its code.
    const attach = await Promise.all(
      [pair.B, pair.C].map(
        (s) =>
          new Promise<Out>((resolve) => {
            const p = spawn(BERTH, ['-a', s.address, '-n', s.ns, 'tasks', 'attach', ids.get(s)!], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            p.stdout.on('data', (b: Buffer) => (out += b.toString()));
            p.stderr.on('data', (b: Buffer) => (err += b.toString()));
            setTimeout(() => void ctrOk(s.address, ['tasks', 'kill', '-s', 'SIGKILL', ids.get(s)!], { namespace: s.ns }), 500);
            p.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
          }),
      ),
    );
    expect(attach[0]).toEqual({ code: 137, stdout: '', stderr: '' });
    expect(attach[1]).toEqual(attach[0]);
  });

  it('content: ingest, ls, get, label, rm; leases; snapshots', () => {
    const ing = both(() => ['content', 'ingest', '--label', 'x=1'], 'blob data\n');
    expect(ing[0].code).toBe(0);
    const digest = ing[0].stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ing[1]).toEqual(ing[0]);
    expect(both(() => ['content', 'get', digest])[1].stdout).toBe('blob data\n');
    const ls = both(() => ['--json', 'content', 'ls', `digest==${digest}`]).map((o) => (JSON.parse(o.stdout) as Array<{ labels: Record<string, string> }>)[0]!.labels.x);
    expect(ls).toEqual(['1', '1']);
    expect(both(() => ['content', 'label', digest, 'x=2'])[0].stdout).toMatch(/x=2/);
    expect(both(() => ['content', 'rm', digest])).toEqual([{ code: 0, stdout: `${digest}\n`, stderr: '' }, { code: 0, stdout: `${digest}\n`, stderr: '' }]);
    const gone = both(() => ['content', 'get', digest]);
    expect(gone[0].code).toBe(125);
    expect(gone[1].code).toBe(125);
    const lc = both(() => ['leases', 'create', '--id', 'cli-lease', '--expires', '1h', 'k=v']);
    expect(lc[0]).toEqual({ code: 0, stdout: 'cli-lease\n', stderr: '' });
    expect(both(() => ['leases', 'ls', '-q'])).toEqual([{ code: 0, stdout: 'cli-lease\n', stderr: '' }, { code: 0, stdout: 'cli-lease\n', stderr: '' }]);
    expect(both(() => ['leases', 'rm', '--sync', 'cli-lease'])[1]).toEqual({ code: 0, stdout: 'cli-lease\n', stderr: '' });
    expect(both(() => ['snapshots', 'prepare', 'cli-snap'])[0].code).toBe(0);
    const sls = both(() => ['snapshots', 'ls', 'name==cli-snap']);
    expect(sls[0].stdout).toBe('KEY PARENT KIND\ncli-snap - active\n');
    expect(sls[1]).toEqual(sls[0]);
    const mounts = both(() => ['snapshots', 'mounts', '/mnt/x', 'cli-snap']);
    expect(mounts[0].stdout).toMatch(/^mount -t bind \S+ \/mnt\/x -o (rbind,rw|rw,rbind)\n$/);
    expect(both(() => ['snapshots', 'rm', 'cli-snap'])[1].code).toBe(0);
  });

  it('events as JSON lines', async () => {
    const lines = await Promise.all(
      [pair.B, pair.C].map(
        (s) =>
          new Promise<string[]>((resolve) => {
            const p = spawn(BERTH, ['-a', s.address, '--json', 'events', `topic=="/namespaces/update"`], { stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            p.stdout.on('data', (b: Buffer) => {
              out += b.toString();
              if (out.includes('/namespaces/update')) p.kill('SIGINT');
            });
            // Label until the subscription (made once node has started) sees an update.
            let n = 0;
            const poke = setInterval(() => (++n > 60 ? p.kill('SIGKILL') : void ctrOk(s.address, ['namespaces', 'label', s.ns, `ev=${n}`])), 500);
            p.on('close', (code) => {
              clearInterval(poke);
              resolve([String(code), ...new Set(out.trim().split('\n').map((l) => (JSON.parse(l) as { topic: string }).topic))]);
            });
          }),
      ),
    );
    expect(lines).toEqual([
      ['0', '/namespaces/update'],
      ['0', '/namespaces/update'],
    ]);
  });

  it('usage errors exit 125', () => {
    const [u] = both(() => ['frobnicate']);
    expect(u.code).toBe(125);
    expect(u.stderr).toContain('unknown command "frobnicate"');
    const [f] = both(() => ['leases', 'ls', 'id==']);
    expect(f.code).toBe(125);
    expect(f.stderr).toContain('berth: filters: parse error');
  });
});
