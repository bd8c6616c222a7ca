// berth's OCI distribution client: references, registry host routing (hosts.toml), auth,
// resolve/fetch, and the pull pipeline into a ContentIngester. Used by berthd (CRI
// PullImage, with content-store-ingester.ts) and by the berth CLI / client library (with a
// ContentIngester over containerd's Content service). content-store-ingester is not
// exported here: it loads berthd's metadata layer, which a client does not need.
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
