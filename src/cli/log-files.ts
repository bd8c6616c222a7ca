// Where `berth run -d` sends a container's output, and how `logs` and `containers rm` find
// it again. The task gets a binary:// log URI naming berth-log (native/src/berth_log.c):
// the shim — berth's or containerd's runc shim v2, both run such a program as containerd's
// binary logging protocol says — hands it the task's stdout and stderr, and it appends each
// line with the time it was read and its stream (the CRI log format), so output is kept
// while no client is attached, survives the CLI, and `logs --timestamps` has real times,
// as docker's json-file logs. (A file:// URI would make the shim write the raw bytes: no
// times, and stdout and stderr mixed.)
//
// One file per container: <state>/<namespace>/<id>.log, <state> being $BERTH_CLI_STATE_DIR,
// else /var/lib/berth-cli for root (persistent, as the container records it belongs to are:
// under /run a reboot would lose the logs of containers that still exist), else
// $XDG_STATE_HOME/berth-cli (~/.local/state/berth-cli). The path is also kept on the
// container as a label, so `logs` finds it whatever the environment of a later call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const LOG_FILE_LABEL = 'io.berth.cli/log-file';

/** The logging program (built with the native addon; dist/<dir>/ and src/<dir>/ alike are two levels below the package). */
export const LOGGER_PATH = path.join(__dirname, '..', '..', 'native', 'build', 'Release', 'berth-log');

export function cliStateDir(): string {
  const env = process.env.BERTH_CLI_STATE_DIR;
  if (env) return path.resolve(env);
  if (process.getuid?.() === 0) return '/var/lib/berth-cli';
  return path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'berth-cli');
}

/** Where the log of container `id` in namespace `ns` goes, and the log URI that puts it there. */
export function logFileFor(ns: string, id: string): { path: string; uri: string } {
  const file = path.join(cliStateDir(), ns, `${id}.log`);
  // Both shims pass the query to the program as arguments: `file PATH`.
  return { path: file, uri: `binary://${LOGGER_PATH}?file=${encodeURIComponent(file)}` };
}

/** Makes the log's directory and removes a file left by an earlier container of the same
 * id (deleted by another client): call once the new container exists. */
export function prepareLogFile(file: string): void {
  if (!fs.existsSync(LOGGER_PATH)) throw new Error(`${LOGGER_PATH} is missing (npm run build:native builds it)`);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.rmSync(file, { force: true });
}

/** The log file a container's labels name, if any. */
export function logFileOf(labels: Record<string, string>): string | undefined {
  return labels[LOG_FILE_LABEL] || undefined;
}

/** Removes the container's log file (if it has one). */
export function removeLogFile(labels: Record<string, string>): void {
  const file = logFileOf(labels);
  if (file) fs.rmSync(file, { force: true });
}
