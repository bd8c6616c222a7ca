// Differ.apply reads gzip and plain layers of a local blob in the apply worker, through
// the blob's fd (applyLayerFromFd), instead of streaming them through the event loop
// (applyLayer). The two paths must agree: the same tree, the same diff ID and size, and
// the same error for a corrupt or truncated layer, with the worker usable afterwards.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalContentStore } from '../../src/content/local';
import * as applyModule from '../../src/diff/apply';
import { applyLayer } from '../../src/diff/apply';
import { decompressStream } from '../../src/diff/decompress';
import { Differ } from '../../src/differ/differ';
import { MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP } from '../../src/differ/mediatypes';
import { packTar, pseudoRandomBytes } from '../fixtures/images';
import { writeBlob } from './content-conformance';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-differ-fd-'));
let store: LocalContentStore;
let n = 0;

beforeAll(async () => {
  store = await LocalContentStore.open(path.join(dir, 'content'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every path under root with its type, mode and content digest (files). */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      const rel = path.relative(root, p);
      if (st.isDirectory()) {
        out.push(`d ${rel} ${(st.mode & 0o7777).toString(8)}`);
        walk(p);
      } else if (st.isSymbolicLink()) out.push(`l ${rel} -> ${fs.readlinkSync(p)}`);
      else if (st.isCharacterDevice()) out.push(`c ${rel} ${st.rdev}`);
      else out.push(`f ${rel} ${(st.mode & 0o7777).toString(8)} ${sha(fs.readFileSync(p))}`);
    }
  };
  walk(root);
  return out;
}

/** An overlay mount whose upper dir is a fresh directory (the differ writes there directly). */
function freshOverlay(): { upper: string; mounts: Array<{ type: string; source: string; target: string; options: string[] }> } {
  const base = path.join(dir, `snap-${n++}`);
  const upper = path.join(base, 'fs');
  const lower = path.join(base, 'lower');
  fs.mkdirSync(upper, { recursive: true });
  fs.mkdirSync(lower, { recursive: true });
  return { upper, mounts: [{ type: 'overlay', source: 'overlay', target: '', options: [`upperdir=${upper}`, `lowerdir=${lower}`] }] };
}

/** Applies through the event-loop path (what the differ did before, and still does for zstd). */
async function applyByStream(blob: Buffer): Promise<{ root: string; result: { digest: string; size: number } | Error }> {
  const root = freshOverlay().upper;
  const result = await decompressStream(Readable.from([blob]))
    .then((tar) => applyLayer(root, tar, { overlayWhiteouts: true, parents: [] }))
    .catch((err: unknown) => err as Error);
  return { root, result };
}

async function applyByDiffer(blob: Buffer, mediaType: string): Promise<{ root: string; result: { digest: string; size: number } | Error }> {
  const digest = sha(blob);
  const info = (await store.info(digest).catch(() => undefined)) ?? (await writeBlob(store, `blob-${n++}`, blob));
  const o = freshOverlay();
  const result = await new Differ(dir)
    .apply(store, { mediaType, digest: info.digest, size: info.size }, o.mounts)
    .catch((err: unknown) => err as Error);
  return { root: o.upper, result };
}

describe('Differ.apply through the worker reading the blob', () => {
  let tar: Buffer;
  beforeAll(async () => {
    tar = await packTar([
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'etc/group', type: 'file', content: Buffer.from('root:x:0:\n') },
      { path: 'data/big', type: 'file', content: pseudoRandomBytes(3 << 20, 7), mode: 0o640 },
      { path: 'data/link', type: 'symlink', linkname: 'big' },
      { path: 'data/.wh.gone', type: 'file', content: Buffer.alloc(0) },
    ]);
  });

  it('a gzip layer: the same tree, diff ID and size as the stream path', async () => {
    const gz = zlib.gzipSync(tar);
    const a = await applyByStream(gz);
    const fromFd = vi.spyOn(applyModule, 'applyLayerFromFd');
    const b = await applyByDiffer(gz, MEDIA_TYPE_LAYER_GZIP);
    // The differ took the worker's own read, not the stream.
    expect(fromFd).toHaveBeenCalledTimes(1);
    fromFd.mockRestore();
    expect(b.result).toEqual({ mediaType: MEDIA_TYPE_LAYER, digest: sha(tar), size: tar.length });
    expect(a.result).toMatchObject({ digest: sha(tar), size: tar.length });
    expect(tree(b.root)).toEqual(tree(a.root));
    // The whiteout became overlayfs's: a 0/0 character device.
    expect(tree(b.root)).toContain('c data/gone 0');
  });

  it('concatenated gzip members and a plain tar, as the stream path', async () => {
    const half = Math.floor(tar.length / 2);
    const multi = Buffer.concat([zlib.gzipSync(tar.subarray(0, half)), zlib.gzipSync(tar.subarray(half))]);
    const a = await applyByStream(multi);
    const b = await applyByDiffer(multi, MEDIA_TYPE_LAYER_GZIP);
    expect(b.result).toMatchObject({ digest: sha(tar), size: tar.length });
    expect(tree(b.root)).toEqual(tree(a.root));
    const plain = await applyByDiffer(tar, MEDIA_TYPE_LAYER);
    expect(plain.result).toMatchObject({ digest: sha(tar), size: tar.length });
    expect(tree(plain.root)).toEqual(tree(a.root));
  });

  it('a corrupt and a truncated gzip fail as on the stream path, and the worker keeps working', async () => {
    const gz = zlib.gzipSync(tar);
    const corrupt = Buffer.from(gz);
    for (let i = 2000; i < 2100; i++) corrupt[i] = corrupt[i]! ^ 0xff;
    const truncated = gz.subarray(0, Math.floor(gz.length / 2));
    for (const bad of [corrupt, truncated]) {
      const a = await applyByStream(bad);
      const b = await applyByDiffer(bad, MEDIA_TYPE_LAYER_GZIP);
      expect(a.result).toBeInstanceOf(Error);
      expect(b.result).toBeInstanceOf(Error);
      expect((b.result as Error).message).toBe((a.result as Error).message);
    }
    const ok = await applyByDiffer(gz, MEDIA_TYPE_LAYER_GZIP);
    expect(ok.result).toMatchObject({ digest: sha(tar), size: tar.length });
  });
});
