// Side-by-side task tests: a private berthd and a private real containerd, each driven in a
// namespace of the test's own (a "side"), with the ids a test creates remembered so that
// its afterAll can remove every task, container, runc state dir and ctr FIFO dir it left.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildOciImage, busyboxLayer } from '../fixtures/images';
import {
  ctr,
  ctrOk,
  makeTempRoot,
  removeFifoDirs,
  removeRuncLeftovers,
  startBerthd,
  startContainerd,
  type BerthdHandle,
  type BerthdOptions,
  type ContainerdHandle,
  type ContainerdOptions,
  type CtrResult,
  type TempRoot,
} from '../harness';

/** One daemon of the pair and the namespace the test uses on it. */
export interface Side {
  readonly name: 'berthd' | 'containerd';
  readonly address: string;
  readonly ns: string;
}

/** A unique id: name plus 6 hex digits. */
export function uid(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

/** `ctr -a <side> -n <ns> args…`; never rejects (see ctrOk for that). */
export function ctrOn(side: Side, args: string[], timeoutMs = 30_000): Promise<CtrResult> {
  return ctr(side.address, args, { namespace: side.ns, timeoutMs });
}

/** Kills, deletes and removes a task and its container, whatever state they are in. */
export async function removeTask(side: Side, id: string): Promise<void> {
  await ctrOn(side, ['task', 'kill', '-s', 'SIGKILL', id]);
  await ctrOn(side, ['task', 'rm', '-f', id], 20_000);
  await ctrOn(side, ['containers', 'rm', id]);
}

/**
 * berthd and containerd started together in a temp root, with a busybox image imported
 * into each side's namespace, and the cleanup of everything the test made on them.
 */
export class SideBySide<S extends Side = Side> {
  private readonly used = new Map<Side, Set<string>>();

  private constructor(
    readonly tmp: TempRoot,
    readonly berthd: BerthdHandle,
    readonly containerd: ContainerdHandle,
    readonly B: S,
    readonly C: S,
  ) {}

  /**
   * Starts both daemons; `sides` makes the two sides from the plain ones (namespaces
   * `<prefix>-<run>-b|c`), for tests whose sides carry more (a cgroup, a bundle dir…).
   */
  static async start<S extends Side = Side>(opts: {
    prefix: string;
    image: string;
    sides?: (plain: { B: Side; C: Side }) => { B: S; C: S };
    /** Options for the daemons (a berthd config file, containerd's metrics listener…). */
    berthd?: BerthdOptions;
    containerd?: ContainerdOptions;
  }): Promise<SideBySide<S>> {
    const tmp = makeTempRoot(`berth-${opts.prefix}-`);
    const [berthd, containerd] = await Promise.all([startBerthd(opts.berthd), startContainerd(opts.containerd)]);
    const run = `${process.pid}-${randomBytes(2).toString('hex')}`;
    const plain = {
      B: { name: 'berthd', address: berthd.address, ns: `${opts.prefix}-${run}-b` } as const,
      C: { name: 'containerd', address: containerd.address, ns: `${opts.prefix}-${run}-c` } as const,
    };
    // Without `sides`, S is Side itself (its default): the plain sides are the sides.
    const { B, C } = opts.sides ? opts.sides(plain) : (plain as { B: Side; C: Side } as { B: S; C: S });
    const pair = new SideBySide(tmp, berthd, containerd, B, C);
    const img = await buildOciImage({ name: opts.image, layers: [await busyboxLayer()], config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
    const tar = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(tar, img.archive);
    await pair.both((s) => ctrOk(s.address, ['images', 'import', tar], { namespace: s.ns, timeoutMs: 60_000 }));
    return pair;
  }

  /** Remembers id as made on side (for cleanup) and returns it. */
  track(side: S, id: string): string {
    let ids = this.used.get(side);
    if (!ids) this.used.set(side, (ids = new Set()));
    ids.add(id);
    return id;
  }

  /** fn on both sides at once, berthd's result first. */
  both<T>(fn: (s: S) => Promise<T>): Promise<[T, T]> {
    return Promise.all([fn(this.B), fn(this.C)]);
  }

  /**
   * Removes every tracked task and container, stops both daemons (by PID, through their
   * handles), then removes runc's state dirs and ctr's FIFO dirs for the tracked ids and
   * the temp root.
   */
  async cleanup(): Promise<void> {
    for (const s of [this.B, this.C]) for (const id of this.used.get(s) ?? []) await removeTask(s, id);
    await Promise.all([this.berthd.cleanup(), this.containerd.cleanup()]);
    for (const s of [this.B, this.C]) {
      removeRuncLeftovers(s.ns);
      removeFifoDirs(this.used.get(s) ?? new Set());
    }
    await this.tmp.cleanup();
  }
}
