// NODE_EXTRA_CA_CERTS for a process that asked node not to read it at start-up.
//
// Node 20 reads and parses the file NODE_EXTRA_CA_CERTS names while it starts, before any
// script runs, whether or not the process ever opens a TLS connection. With a system CA
// bundle there (/etc/ssl/certs/ca-certificates.crt, ~140 certificates) that is ~38 ms of
// CPU: `node -e 0` took 62 ms with it and 25 ms without on these hosts. Most `berth`
// commands only talk to the daemon over a unix socket, so bin/berth's launcher line moves
// the variable to BERTH_DEFERRED_EXTRA_CA_CERTS before node starts, and the registry
// client (http-client.ts, the CLI's only TLS user) adds those certificates to the roots
// itself, when it first makes an https connection: what node would have trusted, it trusts.
//
// berthd does the same when it execs itself with its V8 flags (src/daemon/v8-flags.ts):
// the daemon pulls over TLS only when asked to, and its shim, which never does, inherits
// the handed-on variable. In a process started otherwise (a program using the client
// library) the variable is not set and this is empty: node has read NODE_EXTRA_CA_CERTS.
import * as fs from 'node:fs';

/** The variable bin/berth's launcher line moves NODE_EXTRA_CA_CERTS to. */
export const DEFERRED_EXTRA_CA_ENV = 'BERTH_DEFERRED_EXTRA_CA_CERTS';

let loaded: string[] | undefined;

/**
 * The deferred extra CA certificates (PEM text, possibly several concatenated, as node's
 * `ca` option takes them), read once. A file that cannot be read is a warning and no extra
 * certificates, as node itself treats it.
 */
export function deferredExtraCaCerts(): readonly string[] {
  if (loaded) return loaded;
  loaded = [];
  const file = process.env[DEFERRED_EXTRA_CA_ENV];
  if (!file) return loaded;
  try {
    loaded = [fs.readFileSync(file, 'utf8')];
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return loaded;
}

/**
 * `env` for a node process exec'd from here, with NODE_EXTRA_CA_CERTS handed on under the
 * deferred name (what bin/berth's launcher line does): that node does not read it at start.
 */
export function withExtraCaCertsDeferred(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: file, ...rest } = env;
  return file === undefined ? env : { ...rest, [DEFERRED_EXTRA_CA_ENV]: file };
}
