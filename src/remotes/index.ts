// berth's OCI distribution client: references, registry host routing (hosts.toml), auth,
// resolve/fetch, and the pull pipeline into a ContentIngester. Used by berthd (CRI
// PullImage, with content-store-ingester.ts) and by the berth CLI / client library (with a
// ContentIngester over containerd's Content service). content-store-ingester is not
// exported here: it loads berthd's metadata layer, which a client does not need.
//
// In berthd (CRI PullImage), roughly:
//   const resolver = new Resolver({ http: sharedHttpClient, hosts: { configPath: cri.registry.config_path },
//                                   credentials: credentialsFromCriAuth(req.auth) });
//   await withPullLease(deps.leases, ns, async (lease) => {
//     const r = await pull(ref, { resolver, ingester: contentStoreIngester(deps.content.view(ns, lease)) });
//     // unpack r.layers, create the image record (name r.name, target r.target) — still under the lease
//   }, { onReleased: () => deps.gc.schedule() });
// In a client: the same pull() with a ContentIngester over the Content service, the lease
// header on its calls, and `progress` drawing bars.
export * from './reference';
export * from './media-types';
export * from './descriptor';
export * from './platforms';
export * from './hosts';
export * from './challenge';
export * from './credentials';
export * from './http-client';
export * from './auth';
export * from './resolver';
export * from './labels';
export * from './ingester';
export * from './pull';
export * from './push';
