// The unpack algorithm (src/unpack/unpacker.ts) over fake snapshotter/applier/content: which
// snapshots it makes and reuses, the keys and labels it uses, how it cleans up on failure, and
// the labels it leaves on blobs. Real snapshotters and layers: test/e2e/cri-images.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, UnknownError } from '../../src/errdefs/errors';
import type { Labels } from '../../src/metadata/records';
import type { UnpackBackend, UnpackDescriptor } from '../../src/unpack/backend';
import { chainId, chainIds } from '../../src/unpack/chainid';
import { unpackImage } from '../../src/unpack/unpacker';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

interface Fake {
  backend: UnpackBackend;
  committed: Map<string, { parent: string; labels: Labels }>;
  active: Map<string, { parent: string; labels: Labels }>;
  blobLabels: Map<string, Labels>;
  calls: string[];
}

/** A layer "blob" whose apply yields diffId (or failure). */
function layer(name: string): UnpackDescriptor {
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(`blob-${name}`), size: 10 };
}

function fake(opts: { diffOf: (d: UnpackDescriptor) => string; config: object; applyFails?: string; prepareTaken?: number; commitRace?: boolean }): Fake {
  const committed = new Map<string, { parent: string; labels: Labels }>();
  const active = new Map<string, { parent: string; labels: Labels }>();
  const blobLabels = new Map<string, Labels>();
  const calls: string[] = [];
  let taken = opts.prepareTaken ?? 0;
  const backend: UnpackBackend = {
    snapshotter: {
      name: 'fakefs',
      stat: async (key) => {
        calls.push(`stat ${key}`);
        if (!committed.has(key) && !active.has(key)) throw new NotFoundError(`snapshot ${key}`);
      },
      prepare: async (key, parent, labels) => {
        calls.push(`prepare ${key.replace(/^extract-\d+-[\w-]{4} /, 'extract-<u> ')} on ${parent || '-'}`);
        if (taken-- > 0) throw new AlreadyExistsError(`snapshot ${key}`);
        if (parent && !committed.has(parent)) throw new NotFoundError(`parent ${parent}`);
        active.set(key, { parent, labels });
        return [{ type: 'bind', source: `/fake/${key}`, options: ['rbind'] }];
      },
      commit: async (name, key, labels) => {
        calls.push(`commit ${name}`);
        const a = active.get(key);
        if (!a) throw new NotFoundError(`snapshot ${key}`);
        if (committed.has(name) || opts.commitRace) throw new AlreadyExistsError(`snapshot ${name}`);
        active.delete(key);
        committed.set(name, { parent: a.parent, labels });
      },
      remove: async (key) => {
        calls.push(`remove ${key.replace(/^extract-\d+-[\w-]{4} /, 'extract-<u> ')}`);
        active.delete(key);
      },
    },
    applier: {
      apply: async (d) => {
        calls.push(`apply ${d.digest.slice(7, 15)}`);
        if (opts.applyFails === d.digest) throw new UnknownError('broken tar');
        return { digest: opts.diffOf(d) };
      },
    },
    content: {
      readBlob: async () => Buffer.from(JSON.stringify(opts.config)),
      setLabels: async (digest, labels) => {
        blobLabels.set(digest, { ...(blobLabels.get(digest) ?? {}), ...labels });
      },
    },
  };
  return { backend, committed, active, blobLabels, calls };
}

const L = [layer('a'), layer('b'), layer('c')];
const diffs = new Map(L.map((l, i) => [l.digest, sha(`diff-${i}`)]));
const diffOf = (d: UnpackDescriptor) => diffs.get(d.digest) ?? 'sha256:none';
const config = { rootfs: { type: 'layers', diff_ids: L.map(diffOf) } };
const configDesc: UnpackDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('config'), size: 100 };

describe('chain IDs', () => {
  it('are the OCI image-spec ChainIDs', () => {
    const d = L.map(diffOf);
    const ids = chainIds(d);
    expect(ids[0]).toBe(d[0]);
    expect(ids[1]).toBe(sha(`${d[0]} ${d[1]}`));
    expect(ids[2]).toBe(sha(`${ids[1]} ${d[2]}`));
    expect(chainId(d)).toBe(ids[2]);
    expect(chainId([])).toBe('');
  });
});

describe('unpackImage', () => {
  it('prepares each layer on the previous chain ID, applies, commits under the chain ID, then labels blobs', async () => {
    const f = fake({ diffOf, config });
    const ids = chainIds(L.map(diffOf));
    const res = await unpackImage(f.backend, { config: configDesc, layers: L });
    expect(res).toEqual({ chainId: ids[2], applied: 3 });
    expect([...f.committed.keys()]).toEqual(ids);
    expect(f.committed.get(ids[1] as string)).toEqual({ parent: ids[0], labels: { 'containerd.io/snapshot.ref': ids[1] } });
    expect(f.active.size).toBe(0);
    expect(f.calls.filter((c) => c.startsWith('prepare'))).toEqual([
      `prepare extract-<u> ${ids[0]} on -`,
      `prepare extract-<u> ${ids[1]} on ${ids[0]}`,
      `prepare extract-<u> ${ids[2]} on ${ids[1]}`,
    ]);
    for (const l of L) expect(f.blobLabels.get(l.digest)).toEqual({ 'containerd.io/uncompressed': diffOf(l) });
    expect(f.blobLabels.get(configDesc.digest)).toEqual({ 'containerd.io/gc.ref.snapshot.fakefs': ids[2] });
  });

  it('reuses the snapshots that exist and applies only the rest', async () => {
    const f = fake({ diffOf, config });
    const ids = chainIds(L.map(diffOf));
    f.committed.set(ids[0] as string, { parent: '', labels: {} });
    f.committed.set(ids[1] as string, { parent: ids[0] as string, labels: {} });
    const res = await unpackImage(f.backend, { config: configDesc, layers: L });
    expect(res.applied).toBe(1);
    expect(f.calls.filter((c) => c.startsWith('apply'))).toHaveLength(1);
    // A reused layer's blob is not relabelled: only an apply verifies its diff ID.
    expect(f.blobLabels.has(L[0]!.digest)).toBe(false);
    expect(f.blobLabels.get(L[2]!.digest)).toEqual({ 'containerd.io/uncompressed': diffOf(L[2]!) });
  });

  it('passes the layer annotations meant for snapshots on as labels, and no others', async () => {
    const f = fake({ diffOf, config });
    const layers = L.map((l, i) => (i === 0 ? { ...l, annotations: { 'containerd.io/snapshot/remote': 'x', 'org.opencontainers.image.title': 'no' } } : l));
    await unpackImage(f.backend, { config: configDesc, layers });
    const first = chainIds(L.map(diffOf))[0] as string;
    expect(f.committed.get(first)?.labels).toEqual({ 'containerd.io/snapshot/remote': 'x', 'containerd.io/snapshot.ref': first });
  });

  it('a diff ID that does not match the config removes the extraction snapshot and fails', async () => {
    const wrong = { rootfs: { diff_ids: [diffOf(L[0]!), sha('not it'), diffOf(L[2]!)] } };
    const f = fake({ diffOf, config: wrong });
    await expect(unpackImage(f.backend, { config: configDesc, layers: L })).rejects.toThrow(`wrong diff id calculated on extraction "${sha('not it')}"`);
    expect(f.active.size).toBe(0);
    expect(f.committed.size).toBe(1); // layer 1 stays for the caller's lease to release
    expect(f.blobLabels.has(configDesc.digest)).toBe(false);
  });

  it('an apply failure removes the extraction snapshot and names the layer', async () => {
    const f = fake({ diffOf, config, applyFails: L[1]!.digest });
    await expect(unpackImage(f.backend, { config: configDesc, layers: L })).rejects.toThrow(`failed to extract layer ${diffOf(L[1]!)}: broken tar`);
    expect(f.active.size).toBe(0);
  });

  it('a key taken by another extraction is retried with a new one', async () => {
    const f = fake({ diffOf, config, prepareTaken: 2 });
    const res = await unpackImage(f.backend, { config: configDesc, layers: L });
    expect(res.applied).toBe(3);
    expect(f.calls.filter((c) => c.startsWith('prepare'))).toHaveLength(5);
  });

  it('losing the commit race to another unpack is success, and the extraction is removed', async () => {
    const f = fake({ diffOf, config: { rootfs: { diff_ids: [diffOf(L[0]!)] } }, commitRace: true });
    const res = await unpackImage(f.backend, { config: configDesc, layers: [L[0]!] });
    expect(res.applied).toBe(0);
    expect(f.active.size).toBe(0);
    expect(f.calls).toContain(`remove extract-<u> ${diffOf(L[0]!)}`);
  });

  it('refuses a config whose diff IDs do not match the layers in number', async () => {
    const f = fake({ diffOf, config: { rootfs: { diff_ids: [diffOf(L[0]!)] } } });
    await expect(unpackImage(f.backend, { config: configDesc, layers: L })).rejects.toThrow("number of layers and diffIDs don't match: 3 != 1");
    expect(f.calls).toEqual([]);
  });

  it('two unpacks of the same layers at once extract each layer once', async () => {
    const f = fake({ diffOf, config });
    const [a, b] = await Promise.all([unpackImage(f.backend, { config: configDesc, layers: L }), unpackImage(f.backend, { config: configDesc, layers: L })]);
    expect(a.applied + b.applied).toBe(3);
    expect(f.calls.filter((c) => c.startsWith('apply'))).toHaveLength(3);
  });
});
