import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage, busyboxLayer, layerFromTar, packTar, pseudoRandomBytes, type Layer } from '../fixtures/images';
import { RUNC, TMUX_BIN, TmuxTerminal, pushArchive, startRegistry, type RegistryHandle } from '../harness';
import { SideBySide, ctrOn, uid, type Side } from './sides';

// berth in a real terminal: tmux runs `berth images pull` (per-layer progress bars drawn in
// place) and `berth run -t` (the container's shell prompt, typed commands answered, its
// exit code back at the outer shell), and the test reads the screen with capture-pane.
// The pull runs against berthd and containerd, the interactive run against berthd.

const BERTH = path.join(__dirname, '..', '..', 'bin', 'berth');
const OUTER = 'OUTER$ ';
const canRun =
  process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync(TMUX_BIN) && fs.existsSync('/usr/bin/docker-registry') && fs.existsSync('/usr/bin/skopeo');

let pair: SideBySide;
let reg: RegistryHandle;
let ref: string;
let layers: Layer[];
let term: TmuxTerminal | undefined;

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'berthtty', image: 'docker.io/library/berth-unused:1' });
  reg = await startRegistry();
  // busybox and four 3 MiB layers of incompressible data: five bars, and a pull long enough
  // to be drawn more than once.
  layers = [await busyboxLayer()];
  for (let i = 0; i < 4; i++) {
    const tar = await packTar([{ path: `data/l${i}`, type: 'file', content: pseudoRandomBytes(3 << 20, 100 + i) }]);
    layers.push(layerFromTar(tar, { gzipLevel: zlib.constants.Z_BEST_SPEED }));
  }
  const img = await buildOciImage({ name: 'berth.test/tty:1', layers, config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
  const file = path.join(pair.tmp.path, 'tty.tar');
  fs.writeFileSync(file, img.archive);
  await pushArchive(reg, file, 'berth/tty:1');
  ref = `${reg.host}/berth/tty:1`;
}, 180_000);

afterAll(async () => {
  term?.stop();
  await reg?.cleanup();
  await pair?.cleanup();
});

function berthCmd(s: Side, args: string): string {
  return `${process.execPath} ${BERTH} -a ${s.address} -n ${s.ns} ${args}`;
}

/** The screen's lines from the last one containing `marker` on (what the command printed). */
function after(lines: string[], marker: string): string[] {
  let i = -1;
  lines.forEach((l, j) => {
    if (l.includes(marker)) i = j;
  });
  return i < 0 ? [] : lines.slice(i);
}

describe.skipIf(!canRun)('berth in a real terminal (tmux)', () => {
  for (const side of ['berthd', 'containerd'] as const) {
    it(`images pull --plain-http draws one progress bar per layer in place (${side})`, async () => {
      const s = side === 'berthd' ? pair.B : pair.C;
      term = TmuxTerminal.start(pair.tmp.path, { prompt: OUTER });
      try {
        await term.waitFor('outer prompt', (l) => l.some((x) => x === OUTER.trimEnd()), 10_000);
        term.type(`${berthCmd(s, `images pull --plain-http ${ref}`)}; echo "pull-rc=$?"`);
        const labels = layers.map((l) => `layer-${l.digest.slice('sha256:'.length, 'sha256:'.length + 12)}`);
        // The status line itself, digits and all: the typed command, wrapped at the window's
        // width, can put its own `pull-rc=$?"` at the start of a screen line.
        const screen = await term.waitFor('pull-rc', (l) => l.some((x) => /^pull-rc=\d+$/.test(x)), 120_000);
        const out = after(screen, 'images pull --plain-http');
        expect(out.find((x) => /^pull-rc=\d+$/.test(x)), out.join('\n')).toBe('pull-rc=0');
        labels.forEach((label, i) => {
          // One line per layer: redrawn in place, not appended.
          const rows = out.filter((x) => x.startsWith(`${label}:`));
          expect(rows, `${label} in\n${out.join('\n')}`).toHaveLength(1);
          // busybox's layer is in the store already (the side's own busybox image): said so, as docker does.
          if (i === 0 && rows[0] === `${label}: already exists`) return;
          // Finished: a full bar, its size twice (done/total), the time it took.
          expect(rows[0]).toMatch(new RegExp(`^${label}: done +\\|\\++\\| ([0-9.]+ ?[KMG]?i?B)/\\1 .*[0-9.]+s$`));
        });
        expect(out.some((x) => x.startsWith(`${ref}: sha256:`) && x.includes('unpacked'))).toBe(true);
      } finally {
        term.stop();
        term = undefined;
      }
    }, 180_000);
  }

  it('run --rm -t: the container shell prompt, a command answered, exit code back at the outer shell (berthd)', async () => {
    const s = pair.B;
    term = TmuxTerminal.start(pair.tmp.path, { prompt: OUTER });
    try {
      await term.waitFor('outer prompt', (l) => l.some((x) => x === OUTER.trimEnd()), 10_000);
      // The image comes from the pull test; pull it here when this test runs alone.
      term.type(`${berthCmd(s, `images pull --plain-http ${ref}`)} >/dev/null; echo "pulled=$?"`);
      await term.waitFor('pulled', (l) => l.some((x) => /^pulled=\d+$/.test(x)), 120_000);
      const id = pair.track(s, uid('tty'));
      term.type('clear');
      await term.waitFor('a clear screen', (l) => l[0] === OUTER.trimEnd(), 10_000);
      term.type(berthCmd(s, `run --rm -t ${ref} ${id} sh`));
      // busybox sh's prompt for root in /.
      await term.waitFor('container prompt', (l) => l.some((x) => x === '/ #'), 60_000);
      // $$ is 1: the shell is the container's first process (its own PID namespace).
      term.type('echo hi; echo "inside as pid $$"');
      const answered = await term.waitFor('the answer and the next prompt', (l) => after(l, '/ # echo hi')[3] === '/ #', 20_000);
      const inner = after(answered, '/ # echo hi');
      expect(inner.slice(0, 4), answered.join('\n')).toEqual(['/ # echo hi; echo "inside as pid $$"', 'hi', 'inside as pid 1', '/ #']);
      term.type('exit 3');
      await term.waitFor('outer prompt after exit', (l) => after(l, '/ # exit 3').slice(1).includes(OUTER.trimEnd()), 30_000);
      term.type('echo "rc=$?"');
      const back = await term.waitFor('rc', (l) => l.some((x) => /^rc=\d+$/.test(x)), 10_000);
      expect(back.find((x) => /^rc=\d+$/.test(x))).toBe('rc=3');
      // --rm: the container is gone.
      expect((await ctrOn(s, ['containers', 'ls', '-q'])).stdout.split('\n')).not.toContain(id);
    } finally {
      term.stop();
      term = undefined;
    }
  }, 240_000);
});
