// berth's shared shim exits once idle; a burst of `ctr run -d` after that must start ONE
// new shim (not one `start` per task) and every task must run, and the new shim must not
// hold berthd's files. The shim is made to leave quickly with BERTH_SHIM_SHUTDOWN_GRACE_MS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage, busyboxLayer } from '../fixtures/images';
import { RUNC, ctr, ctrOk, isAlive, makeTempRoot, sleep, startBerthd, type BerthdHandle, type TempRoot } from '../harness';

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');
const IMAGE = 'docker.io/library/berth-burst:1';
const NS = 'burst';
const N = 12;

/** How many times berthd ran the shim binary's `start` (its debug log says so). */
function shimStarts(d: BerthdHandle): number {
  return fs.readFileSync(d.logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"running shim start"')).length;
}

function shimPid(d: BerthdHandle): number | undefined {
  const dir = path.join(path.dirname(d.address), 's');
  const f = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).find((x) => x.endsWith('.pid'));
  return f ? Number.parseInt(fs.readFileSync(path.join(dir, f), 'utf8'), 10) : undefined;
}

describe.skipIf(!canRun)('a burst of tasks after the shared shim went idle', () => {
  let tmp: TempRoot;
  let d: BerthdHandle;
  beforeAll(async () => {
    tmp = makeTempRoot('berth-burst-');
    d = await startBerthd({ env: { BERTH_SHIM_SHUTDOWN_GRACE_MS: '200' } });
    const tar = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(tar, (await buildOciImage({ name: IMAGE, layers: [await busyboxLayer()] })).archive);
    await ctrOk(d.address, ['images', 'import', tar], { namespace: NS, timeoutMs: 60_000 });
  }, 120_000);

  afterAll(async () => {
    for (let i = 0; i < N; i++) {
      await ctr(d.address, ['task', 'kill', '-s', 'SIGKILL', `b${i}`], { namespace: NS });
      await ctr(d.address, ['task', 'rm', '-f', `b${i}`], { namespace: NS });
      await ctr(d.address, ['containers', 'rm', `b${i}`], { namespace: NS });
    }
    await d?.cleanup();
    await tmp?.cleanup();
  }, 120_000);

  it('starts one shim and runs every task', async () => {
    await ctrOk(d.address, ['run', '--rm', IMAGE, 'first', 'true'], { namespace: NS });
    const first = shimPid(d);
    expect(first).toBeDefined();
    // Deleted its last task and was told to shut down: it leaves after the grace period.
    for (let i = 0; i < 100 && first !== undefined && isAlive(first); i++) await sleep(50);
    expect(isAlive(first as number)).toBe(false);
    const before = shimStarts(d);
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => ctr(d.address, ['run', '-d', IMAGE, `b${i}`, 'sleep', '600'], { namespace: NS, timeoutMs: 120_000 })));
    expect(rs.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    expect(shimStarts(d) - before).toBe(1);
    const ls = await ctrOk(d.address, ['task', 'ls'], { namespace: NS });
    expect(ls.stdout.split('\n').filter((l) => /RUNNING/.test(l))).toHaveLength(N);
    // The shim outlives berthd: it holds none of berthd's files (LevelDB's are not
    // opened close-on-exec; berthd marks them before it spawns a shim).
    const pid = shimPid(d) as number;
    const open = fs.readdirSync(`/proc/${pid}/fd`).map((f) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${f}`);
      } catch {
        return '';
      }
    });
    expect(open.filter((l) => l.startsWith(d.root))).toEqual([]);
  }, 180_000);
});
