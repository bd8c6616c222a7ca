// A pull done by the daemon: containerd 2's Transfer service (OCIRegistry → ImageStore), as
// ctr 2's `images pull` does it. The client names the image and where to unpack, opens a
// stream for progress and one for registry credentials (Streaming.Stream), and the daemon
// fetches, unpacks and records the image itself: no blob passes through the client.
// containerd 1.6 has neither service; it answers Unimplemented (NotImplementedError here),
// and the caller pulls client side instead.
import { randomBytes } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { CredentialsCallback } from '../remotes/credentials';
import type { HostsOptions } from '../remotes/hosts';
import type { BlobProgress, ProgressCallback } from '../remotes/pull';
import type { Platform } from '../remotes/descriptor';
import { blobKindOf } from '../remotes/media-types';
import type { WireAny } from '../proto/any';
import { decodeWire, encodeWire } from '../proto/wire-table';
import type { CallOptions } from './call-options';
import type { GrpcCall } from './channel';
import { Services, type Rpc } from './rpc';
import { typeNameOf } from '../proto/type-url';

const STREAM_INIT = 'containerd.services.streaming.v1.StreamInit';
const OCI_REGISTRY = 'containerd.types.transfer.OCIRegistry';
const IMAGE_STORE = 'containerd.types.transfer.ImageStore';
const PROGRESS = 'containerd.types.transfer.Progress';
const AUTH_REQUEST = 'containerd.types.transfer.AuthRequest';
const AUTH_RESPONSE = 'containerd.types.transfer.AuthResponse';

interface WireProgress {
  event: string;
  name: string;
  progress: number;
  total: number;
  desc: { media_type: string; digest: string; size: number } | null;
}

export interface TransferPullOptions extends CallOptions {
  hosts?: HostsOptions;
  credentials?: CredentialsCallback;
  platform?: Platform;
  /** The snapshotter to unpack into; false: do not unpack. */
  unpack: string | false;
  progress?: ProgressCallback;
}

function anyOf(typeName: string, msg: object): WireAny {
  return { type_url: typeName, value: encodeWire(typeName, msg) };
}

const STATUS_OF: Record<string, BlobProgress['status'] | undefined> = {
  waiting: 'waiting',
  downloading: 'downloading',
  complete: 'done',
  'already exists': 'exists',
};

/** A blob's transfer progress as the client pull's (undefined: a report about the image as a whole). */
export function blobProgressOf(p: WireProgress): BlobProgress | undefined {
  const status = STATUS_OF[p.event];
  if (!status || !p.desc) return undefined;
  return { digest: p.desc.digest, mediaType: p.desc.media_type, kind: blobKindOf(p.desc.media_type), ref: p.name, status, offset: Number(p.progress), total: Number(p.total), resumedFrom: 0 };
}

/** Opens a named stream (Streaming.Stream + StreamInit) and waits for the daemon's acknowledgement. */
async function openStream(rpc: Rpc, purpose: string, o: CallOptions): Promise<{ id: string; call: GrpcCall<WireAny, WireAny> }> {
  const id = `${purpose}-${randomBytes(9).toString('base64url')}`;
  const call = rpc.open<WireAny, WireAny>(Services.streaming, 'Stream', o);
  try {
    await call.send(anyOf(STREAM_INIT, { id }));
    if ((await call.next()) === undefined) throw new Error(`the daemon ended stream ${id} before acknowledging it`);
  } catch (err) {
    call.fail(err);
    throw err;
  }
  return { id, call };
}

/** Answers the daemon's credential requests on an auth stream until it ends. */
async function answerAuth(call: GrpcCall<WireAny, WireAny>, credentials: CredentialsCallback): Promise<void> {
  for (;;) {
    const m = await call.next();
    if (m === undefined) return;
    if (typeNameOf(m.type_url) !== AUTH_REQUEST) continue;
    const req = decodeWire<{ host: string }>(AUTH_REQUEST, m.value);
    let answer: object = { authType: 'NONE' };
    try {
      const c = await credentials(req.host);
      if (c && 'identityToken' in c) answer = { authType: 'REFRESH', secret: c.identityToken };
      else if (c) answer = { authType: 'CREDENTIALS', username: c.username, secret: c.password };
    } catch {
      // No credentials to offer: the registry decides whether anonymous will do.
    }
    await call.send(anyOf(AUTH_RESPONSE, answer));
  }
}

/**
 * Has the daemon pull `ref` into the image named `name` (unpacking into o.unpack). Throws
 * NotImplementedError when the daemon has no Transfer service, before anything is pulled.
 */
export async function transferPull(rpc: Rpc, ref: string, name: string, o: TransferPullOptions): Promise<void> {
  const callOpts: CallOptions = { ...(o.signal ? { signal: o.signal } : {}) };
  const opened: Array<GrpcCall<WireAny, WireAny>> = [];
  const readers: Array<Promise<void>> = [];
  try {
    let progressStream = '';
    if (o.progress) {
      const { id, call } = await openStream(rpc, 'progress', callOpts);
      opened.push(call);
      progressStream = id;
      const progress = o.progress;
      readers.push(
        (async () => {
          for (;;) {
            const m = await call.next();
            if (m === undefined) return;
            if (typeNameOf(m.type_url) !== PROGRESS) continue;
            const p = blobProgressOf(decodeWire<WireProgress>(PROGRESS, m.value));
            if (p) progress(p);
          }
        })(),
      );
    }
    let authStream = '';
    if (o.credentials) {
      const { id, call } = await openStream(rpc, 'creds', callOpts);
      opened.push(call);
      authStream = id;
      readers.push(answerAuth(call, o.credentials));
    }
    // The readers end with their streams; a failure there must not be unhandled meanwhile.
    for (const r of readers) r.catch(() => undefined);
    const platform = o.platform ? { os: o.platform.os, architecture: o.platform.architecture, variant: o.platform.variant ?? '' } : null;
    await rpc.unary(
      Services.transfer,
      'Transfer',
      {
        source: anyOf(OCI_REGISTRY, {
          reference: ref,
          resolver: {
            auth_stream: authStream,
            headers: {},
            // A path the daemon reads: relative to our directory, not to the daemon's.
            host_dir: o.hosts?.configPath ? resolvePath(o.hosts.configPath) : '',
            default_scheme: o.hosts?.plainHttp ? 'http' : '',
            http_debug: 'DISABLED',
            logs_stream: '',
          },
        }),
        destination: anyOf(IMAGE_STORE, {
          name,
          labels: {},
          platforms: platform ? [platform] : [],
          all_metadata: false,
          manifest_limit: 0,
          extra_references: [],
          unpacks: o.unpack === false ? [] : [{ platform, snapshotter: o.unpack }],
        }),
        options: { progress_stream: progressStream },
      },
      callOpts,
    );
    // The daemon ends the progress stream once its last report is sent.
    if (progressStream !== '') await readers[0];
  } finally {
    for (const c of opened) c.end();
    for (const c of opened) c.fail(new Error('transfer finished'));
  }
}
