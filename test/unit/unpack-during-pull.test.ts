// The logic of unpacking while a pull downloads (src/unpack/during-pull.ts), with a fake
// content store and unpack: the unpack starts once the manifest is in, each layer waits for
// its blob, a second manifest makes the caller unpack the usual way, a failed pull stops it.
import { describe, expect, it } from 'vitest';
import { UnpackDuringPull } from '../../src/unpack/during-pull';
import type { BlobProgress } from '../../src/remotes/pull';
import type { UnpackImage } from '../../src/unpack/unpacker';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const manifest = {
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('c'), size: 10 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 100 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 100 },
  ],
};
const content = async (): Promise<Buffer> => Buffer.from(JSON.stringify(manifest));

function ev(kind: BlobProgress['kind'], digest: string, status: BlobProgress['status'] = 'done'): BlobProgress {
  return { digest, mediaType: '', kind, ref: `${kind}-${digest}`, status, offset: 0, total: 0, resumedFrom: 0 };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('UnpackDuringPull', () => {
  it('applies each layer once its blob is in, bottom up, while the rest downloads', async () => {
    const log: string[] = [];
    const u = new UnpackDuringPull(content, async (image: UnpackImage, layerReady) => {
      log.push(`start ${image.layers.length} layers, config ${image.config.digest.slice(7, 8)}`);
      for (const l of image.layers) {
        await layerReady(l);
        log.push(`apply ${l.digest.slice(7, 8)}`);
      }
      return 'chain';
    });
    const seen: string[] = [];
    const p = u.progress((e) => seen.push(`${e.kind} ${e.status}`));
    p(ev('manifest', d('m')));
    p(ev('config', d('c')));
    await tick();
    expect(log).toEqual(['start 2 layers, config c']);
    p(ev('layer', d('2'))); // the upper layer first: the lower one still holds the unpack
    p(ev('layer', d('1'), 'downloading'));
    await tick();
    expect(log).toEqual(['start 2 layers, config c']);
    p(ev('layer', d('1'), 'exists'));
    await tick();
    expect(log).toEqual(['start 2 layers, config c', 'apply 1', 'apply 2']);
    expect(await u.result()).toBe('chain');
    expect(seen).toEqual(['manifest done', 'config done', 'layer done', 'layer downloading', 'layer exists']);
  });

  it('leaves the unpack to the caller when the pull fetched more than one manifest, or none', async () => {
    const u = new UnpackDuringPull(content, async () => 'chain');
    const p = u.progress();
    p(ev('manifest', d('m')));
    p(ev('manifest', d('n')));
    p(ev('config', d('c')));
    p(ev('layer', d('1')));
    p(ev('layer', d('2')));
    expect(await u.result()).toBeUndefined();
    expect(await new UnpackDuringPull(content, async () => 'chain').result()).toBeUndefined();
  });

  it('stops waiting for blobs when the pull fails', async () => {
    const u = new UnpackDuringPull(content, async (image, layerReady) => {
      for (const l of image.layers) await layerReady(l);
      return 'chain';
    });
    const p = u.progress();
    p(ev('manifest', d('m')));
    p(ev('config', d('c')));
    await tick();
    u.fail(new Error('registry went away'));
    await expect(u.result()).rejects.toThrow('registry went away');
  });
});
