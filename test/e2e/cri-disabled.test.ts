// [cri] enabled = false: berthd does not serve the CRI, and answers a CRI call as a containerd
// with its CRI plugin disabled does (the harness's containerd runs without it).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTempRoot, startBerthd, startContainerd, type BerthdHandle, type ContainerdHandle, type TempRoot } from '../harness';
import { CriClient } from './cri-grpc';

let tmp: TempRoot;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;

beforeAll(async () => {
  tmp = makeTempRoot('berth-cri-disabled-');
  const cfg = path.join(tmp.path, 'berthd.toml');
  fs.writeFileSync(cfg, '[cri]\nenabled = false\n');
  [berthd, containerd] = await Promise.all([startBerthd({ config: cfg }), startContainerd()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
  await tmp?.cleanup();
});

it('CRI calls are Unimplemented "unknown service" on both', async () => {
  const clients = [new CriClient(berthd.address), new CriClient(containerd.address)];
  try {
    const [b, c] = await Promise.all(clients.map((cl) => cl.failure(cl.runtimeCall('Version', {}))));
    expect(b).toEqual(c);
    expect(b).toEqual({ code: 12, details: 'unknown service runtime.v1.RuntimeService' });
    const [bi, ci] = await Promise.all(clients.map((cl) => cl.failure(cl.imageCall('ListImages', {}))));
    expect(bi).toEqual(ci);
  } finally {
    for (const cl of clients) cl.close();
  }
});
