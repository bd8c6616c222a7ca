// Pod and container configs for `crictl runp` / `crictl create` (crictl reads them as JSON
// in the CRI's own field names), written into a CRI test environment's temp dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CriEnv } from './cri-env';

export interface PodConfigOptions {
  namespace?: string;
  uid?: string;
  hostname?: string;
  /** runtime.v1 PortMapping fields (protocol as crictl's JSON takes it: 0 TCP, 1 UDP, 2 SCTP). */
  portMappings?: Array<{ container_port: number; host_port?: number; host_ip?: string; protocol?: 0 | 1 | 2 }>;
  /** Pod-level namespace modes (0 POD, 1 CONTAINER, 2 NODE). */
  namespaceOptions?: { network?: number; pid?: number; ipc?: number };
  labels?: Record<string, string>;
}

export interface ContainerConfigOptions {
  command?: string[];
  args?: string[];
  env?: Array<{ key: string; value: string }>;
  /** Relative to the pod's log_directory (default "<name>.log"). */
  logPath?: string;
  labels?: Record<string, string>;
}

export interface WrittenConfig {
  /** The file crictl reads. */
  file: string;
  config: Record<string, unknown>;
}

/** A pod sandbox config (log_directory in the environment's temp dir), written to <env>/crictl/pod-<name>.json. */
export function writePodConfig(env: Pick<CriEnv, 'dir'>, name: string, opts: PodConfigOptions = {}): WrittenConfig {
  const dir = path.join(env.dir, 'crictl');
  const logDir = path.join(env.dir, 'pod-logs', name);
  fs.mkdirSync(logDir, { recursive: true });
  const config: Record<string, unknown> = {
    metadata: { name, namespace: opts.namespace ?? 'berth-test', uid: opts.uid ?? `${name}-uid`, attempt: 0 },
    log_directory: logDir,
    linux: opts.namespaceOptions ? { security_context: { namespace_options: opts.namespaceOptions } } : {},
  };
  if (opts.hostname) config.hostname = opts.hostname;
  if (opts.portMappings) config.port_mappings = opts.portMappings;
  if (opts.labels) config.labels = opts.labels;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `pod-${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, config };
}

/** A container config, written to <env>/crictl/container-<name>.json. */
export function writeContainerConfig(env: Pick<CriEnv, 'dir'>, name: string, image: string, opts: ContainerConfigOptions = {}): WrittenConfig {
  const dir = path.join(env.dir, 'crictl');
  const config: Record<string, unknown> = {
    metadata: { name, attempt: 0 },
    image: { image },
    log_path: opts.logPath ?? `${name}.log`,
    linux: {},
  };
  if (opts.command) config.command = opts.command;
  if (opts.args) config.args = opts.args;
  if (opts.env) config.envs = opts.env;
  if (opts.labels) config.labels = opts.labels;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `container-${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, config };
}
