import { parseArgs } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { ContainerdClient } from '../client/services';
import { callMetadata, collectStream as collect, unary as p } from '../client/connection';
import { fromWireTimestamp } from '../proto/timestamp';
import { formatWall } from '../time/wall';
import { humanSize, labelList, renderTable } from './table';

// `berth`: a ctr-style debugging CLI over the TypeScript client. Works against berthd or
// a real containerd. Tables for people, --json for scripts.

const USAGE = `usage: berth [-a SOCK] [-n NAMESPACE] [--json] COMMAND

commands:
  version                    client and server versions
  namespaces ls              namespaces and their labels
  containers ls [FILTER…]    containers (containerd filter syntax)
  images ls [FILTER…]        images
  content ls [FILTER…]       blobs
  leases ls [FILTER…]        leases
  snapshots ls [--snapshotter NAME]
  plugins ls [FILTER…]       daemon plugins and their status
  events [FILTER…]           stream events until interrupted

  -a, --address SOCK   daemon socket (default $CONTAINERD_ADDRESS or /run/berth/berthd.sock)
  -n, --namespace NS   namespace (default $CONTAINERD_NAMESPACE or "default")
  --json               machine-readable output (one JSON document; events: one per line)
`;

const time = (t: { seconds: number; nanos: number } | null | undefined): string => {
  const w = fromWireTimestamp(t);
  return w ? formatWall(w) : '-';
};

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      address: { type: 'string', short: 'a' },
      namespace: { type: 'string', short: 'n' },
      json: { type: 'boolean', default: false },
      snapshotter: { type: 'string', default: 'overlayfs' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const address = values.address ?? process.env.CONTAINERD_ADDRESS ?? '/run/berth/berthd.sock';
  const ns = values.namespace ?? process.env.CONTAINERD_NAMESPACE ?? 'default';
  const md = callMetadata(ns);
  const client = new ContainerdClient(address);
  const out = (human: string, data: unknown): void => {
    process.stdout.write(values.json ? JSON.stringify(data, null, 2) + '\n' : human);
  };
  const [cmd, sub, ...rest] = positionals;
  const filters = sub === 'ls' ? rest : [];
  try {
    switch (`${cmd} ${sub ?? ''}`.trim()) {
      case 'version': {
        const v = await p<{ version: string; revision: string }>((cb) => client.version.Version({}, cb));
        out(`Server:\n  Version:  ${v.version}\n  Revision: ${v.revision}\n`, v);
        return 0;
      }
      case 'namespaces ls': {
        const r = await p<{ namespaces: Array<{ name: string; labels: Record<string, string> }> }>((cb) => client.namespaces.List({}, cb));
        out(renderTable(['NAME', 'LABELS'], r.namespaces.map((n) => [n.name, labelList(n.labels)])), r.namespaces);
        return 0;
      }
      case 'containers ls': {
        const list = await collect<{ container: { id: string; image: string; runtime: { name: string } | null; labels: Record<string, string> } }>(
          client.containers.ListStream({ filters }, md),
        );
        const cs = list.map((m) => m.container);
        out(renderTable(['CONTAINER', 'IMAGE', 'RUNTIME'], cs.map((c) => [c.id, c.image || '-', c.runtime?.name ?? '-'])), cs);
        return 0;
      }
      case 'images ls': {
        const r = await p<{ images: Array<{ name: string; target: { media_type: string; digest: string; size: number } | null; labels: Record<string, string>; created_at: { seconds: number; nanos: number } | null }> }>(
          (cb) => client.images.List({ filters }, md, cb),
        );
        out(
          renderTable(
            ['REF', 'DIGEST', 'SIZE', 'CREATED', 'LABELS'],
            r.images.map((i) => [i.name, i.target?.digest ?? '-', humanSize(i.target?.size ?? 0), time(i.created_at), labelList(i.labels)]),
          ),
          r.images,
        );
        return 0;
      }
      case 'content ls': {
        const blocks = await collect<{ info: Array<{ digest: string; size: number; created_at: { seconds: number; nanos: number } | null; labels: Record<string, string> }> }>(
          client.content.List({ filters }, md),
        );
        const infos = blocks.flatMap((b) => b.info);
        out(renderTable(['DIGEST', 'SIZE', 'CREATED', 'LABELS'], infos.map((i) => [i.digest, humanSize(i.size), time(i.created_at), labelList(i.labels)])), infos);
        return 0;
      }
      case 'leases ls': {
        const r = await p<{ leases: Array<{ id: string; created_at: { seconds: number; nanos: number } | null; labels: Record<string, string> }> }>(
          (cb) => client.leases.List({ filters }, md, cb),
        );
        out(renderTable(['ID', 'CREATED', 'LABELS'], r.leases.map((l) => [l.id, time(l.created_at), labelList(l.labels)])), r.leases);
        return 0;
      }
      case 'snapshots ls': {
        const blocks = await collect<{ info: Array<{ name: string; parent: string; kind: string; labels: Record<string, string> }> }>(
          client.snapshots.List({ snapshotter: values.snapshotter, filters: [] }, md),
        );
        const infos = blocks.flatMap((b) => b.info);
        out(renderTable(['KEY', 'PARENT', 'KIND'], infos.map((i) => [i.name, i.parent || '-', i.kind.toLowerCase()])), infos);
        return 0;
      }
      case 'plugins ls': {
        const r = await p<{ plugins: Array<{ type: string; id: string; init_err: { message: string } | null }> }>((cb) =>
          client.introspection.Plugins({ filters }, cb),
        );
        out(renderTable(['TYPE', 'ID', 'STATUS'], r.plugins.map((x) => [x.type, x.id, x.init_err ? `error: ${x.init_err.message}` : 'ok'])), r.plugins);
        return 0;
      }
      case 'events': {
        const s = client.events.Subscribe({ filters: sub ? [sub, ...rest] : [] });
        await new Promise<void>((resolve, reject) => {
          s.on('data', (e: { timestamp: { seconds: number; nanos: number } | null; namespace: string; topic: string; event: { type_url: string } | null }) => {
            const line = values.json
              ? JSON.stringify({ timestamp: time(e.timestamp), namespace: e.namespace, topic: e.topic, type: e.event?.type_url })
              : `${time(e.timestamp)}  ${e.namespace}  ${e.topic}  ${e.event?.type_url ?? ''}`;
            process.stdout.write(line + '\n');
          });
          s.on('error', reject);
          s.on('end', resolve);
          process.once('SIGINT', () => {
            s.cancel();
            resolve();
          });
        });
        return 0;
      }
      default:
        process.stderr.write(`berth: unknown command "${positionals.join(' ')}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    const e = err as ServiceError;
    process.stderr.write(`berth: ${e.details ?? e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
