// Command line of a shim v2 binary, parsed with Go's flag package rules (containerd's
// shims use it): `-name value`, `-name=value`, `--name …`, boolean `-debug[=true|false]`;
// parsing stops at the first non-flag argument (the action: start, delete, serve) or `--`.

export interface ShimArgs {
  namespace: string;
  /** The daemon's gRPC socket (containerd: a plain path). */
  address: string;
  publishBinary: string;
  id: string;
  /** containerd ≥1.7 passes -bundle; 1.6 runs start/delete with cwd = bundle. */
  bundle: string;
  debug: boolean;
  /**
   * berth only (berthd passes it for a task with its own shim cgroup): `start` and `serve`
   * use a process of this task's own (socket keyed by namespace and id) instead of the
   * daemon's shared one.
   */
  ownProcess: boolean;
  version: boolean;
  /** start | delete | serve | '' */
  action: string;
  rest: string[];
}

const STRING_FLAGS: Record<string, keyof ShimArgs> = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'rest', // accepted and ignored (shim v2 `-socket` of later releases)
};
const BOOL_FLAGS: Record<string, 'debug' | 'version' | 'ownProcess'> = { debug: 'debug', v: 'version', 'own-process': 'ownProcess' };

export class UsageError extends Error {}

export function parseShimArgs(argv: readonly string[]): ShimArgs {
  const out: ShimArgs = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', debug: false, ownProcess: false, version: false, action: '', rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new UsageError(`bad flag syntax: ${a}`);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    const b = BOOL_FLAGS[name];
    if (b !== undefined) {
      if (inline === undefined) out[b] = true;
      else if (/^(1|t|T|true|TRUE|True)$/.test(inline)) out[b] = true;
      else if (/^(0|f|F|false|FALSE|False)$/.test(inline)) out[b] = false;
      else throw new UsageError(`invalid boolean value "${inline}" for -${name}`);
      continue;
    }
    const key = STRING_FLAGS[name];
    if (key === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    if (key !== 'rest') (out as unknown as Record<string, string>)[key] = value;
  }
  out.action = argv[i] ?? '';
  out.rest = argv.slice(i + 1);
  return out;
}
