// Port-forward through the streaming server (containerd's portForward in
// sandbox_portforward_linux.go): a connection to 127.0.0.1:<port> made inside the pod's
// network namespace, piped both ways with the client's stream. containerd dials from a
// goroutine locked into the netns; berthd, whose event loop must stay in its own, runs a
// relay process there instead (`nsenter --net=<pin> socat - TCP4:127.0.0.1:<port>`). A
// host-network pod's port is dialled directly.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import type { PodRuntime } from './pod_runtime';

/** socat's own message when the connect fails, kept for the client's error text. */
const STDERR_KEEP = 4096;

export async function portForwardInSandbox(rt: PodRuntime, podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  const sb = rt.sandboxes.find(podSandboxId);
  if (!sb) throw new NotFoundError(`failed to find sandbox "${podSandboxId}" in store: not found`);
  if (sb.status().state !== 'ready') throw new UnknownError(`sandbox ${sb.id} is not running`);
  const netns = sb.metadata.netnsPath;
  if (port <= 0 || port > 65535) throw new UnknownError(`invalid port ${port}`);
  if (netns === '') return forwardHost(port, stream, signal);
  return forwardInNetns(netns, sb.id, port, stream, signal);
}

/** Host network: the pod's ports are the host's. */
function forwardHost(port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let connected = false;
    const onAbort = (): void => {
      sock.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      connected = true;
      stream.pipe(sock);
      sock.pipe(stream);
    });
    sock.once('error', (err) => {
      if (!connected) reject(new UnknownError(`failed to connect to localhost:${port} inside namespace "host": ${err.message}`));
    });
    sock.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      if (connected) resolve();
    });
    stream.once('error', () => sock.destroy());
  });
}

function forwardInNetns(netns: string, id: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // socat exits once both directions are done (or its -t grace after one ends).
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'socat', '-t', '5', '-', `TCP4:127.0.0.1:${port}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sent = 0;
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < STDERR_KEEP) stderr += b.toString('utf8');
    });
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      sent += b.length;
      if (!stream.write(b)) {
        child.stdout.pause();
        stream.once('drain', () => child.stdout.resume());
      }
    });
    stream.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    stream.once('error', () => child.kill('SIGKILL'));
    child.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(new UnknownError(`failed to run the port-forward relay in ${netns}: ${err.message}`));
    });
    child.once('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(child.stdin);
      if (code === 0 || signal.aborted) {
        stream.end();
        resolve();
        return;
      }
      const why = stderr.replace(/^.*?E /s, '').trim() || `relay exited with ${String(code)}`;
      if (sent === 0) {
        reject(new UnknownError(`failed to execute portforward in network namespace "${netns}": failed to connect to localhost:${port} inside namespace "${id}", IPv4: ${why} IPv6 dial tcp6 [::1]:${port}: connect: connection refused `));
        return;
      }
      stream.end();
      resolve();
    });
  });
}
