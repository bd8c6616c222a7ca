// Where `berth run -d` sends a container's output, and how `logs` and `containers rm` find
// it again. The task gets a `file://` log URI (ctr's `run --log-uri`): the shim itself —
// berth's or containerd's runc shim v2 — appends stdout and stderr to the file, so output
// is kept while no client is attached and survives the CLI, like docker's json-file logs.
//
// One file per container: <state>/<namespace>/<id>.log, <state> being $BERTH_CLI_STATE_DIR,
// else /var/lib/berth-cli for root (persistent, as the container records it belongs to are:
// under /run a reboot would lose the logs of containers that still exist), else
// $XDG_STATE_HOME/berth-cli (~/.local/state/berth-cli). The path is also kept on the
// container as a label, so `logs` finds it whatever the environment of a later call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const LOG_URI_LABEL = 'io.berth.cli/log-uri';

export function cliStateDir(): string {
  const env = process.env.BERTH_CLI_STATE_DIR;
  if (env) return path.resolve(env);
  if (process.getuid?.() === 0) return '/var/lib/berth-cli';
  return path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'berth-cli');
}

/** Where the log of container `id` in namespace `ns` goes. */
export function logFileFor(ns: string, id: string): { path: string; uri: string } {
  const file = path.join(cliStateDir(), ns, `${id}.log`);
  return { path: file, uri: pathToFileURL(file).href };
}

/** Makes the log's directory and removes a file left by an earlier container of the same
 * id (deleted by another client): call once the new container exists. */
export function prepareLogFile(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.rmSync(file, { force: true });
}

/** The log file a container's labels name, if any. */
export function logFileOf(labels: Record<string, string>): string | undefined {
  const uri = labels[LOG_URI_LABEL];
  if (!uri || !uri.startsWith('file://')) return undefined;
  return fileURLToPath(uri);
}

/** Removes the container's log file (if it has one). */
export function removeLogFile(labels: Record<string, string>): void {
  const file = logFileOf(labels);
  if (file) fs.rmSync(file, { force: true });
}
