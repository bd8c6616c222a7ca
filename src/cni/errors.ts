// CNI errors. All of them reach a CRI client as gRPC Unknown with their message, as
// containerd's do (its CRI wraps go-cni/libcni errors with fmt.Errorf); the types let the
// CRI layer tell a plugin's own error from a missing configuration.

import { UnknownError } from '../errdefs/errors';

/** Well-known error codes of the CNI spec (plugins use 100 and up for their own). */
export const CNI_ERROR_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
} as const;

/** The error a plugin reported: its JSON `code`, `msg`, `details` (libcni's types.Error),
 * or, when it printed no such JSON, a message made from its stderr. The message reads as
 * libcni's: "<msg>" or "<msg>; <details>". */
export class CniPluginError extends UnknownError {
  constructor(
    /** The spec's error code; 0 when the plugin gave none. */
    readonly code: number,
    readonly msg: string,
    readonly details: string,
    /** The tail of what the plugin wrote to stderr (bounded). */
    readonly stderr = '',
  ) {
    super(details ? `${msg}; ${details}` : msg);
  }
}

/** One plugin of a network list failed: which one, in which command (libcni's
 * "plugin type=\"bridge\" name=\"net\" failed (add): …"). `cause` is the plugin's error. */
export class CniPluginFailedError extends UnknownError {
  constructor(
    readonly pluginType: string,
    readonly networkName: string,
    readonly command: 'add' | 'delete' | 'check',
    override readonly cause: Error,
  ) {
    super(`plugin type=${JSON.stringify(pluginType)} name=${JSON.stringify(networkName)} failed (${command}): ${cause.message}`);
  }
}

/** A plugin binary is not in any of the plugin directories. */
export class CniPluginNotFoundError extends UnknownError {
  constructor(readonly pluginType: string, readonly dirs: readonly string[]) {
    // Go prints the []string as [a b].
    super(`failed to find plugin ${JSON.stringify(pluginType)} in path [${dirs.join(' ')}]`);
  }
}

/** A plugin ran past its time and was killed, or wrote more than berth reads. */
export class CniPluginExecError extends UnknownError {}

/** A network configuration file that cannot be used. */
export class CniConfigError extends UnknownError {}

/** No usable network configuration: go-cni's ErrCNINotInitialized ("cni plugin not
 * initialized"), what CRI's NetworkReady condition reports until a config appears. */
export class CniNotInitializedError extends UnknownError {
  constructor(context = '') {
    super(context ? `${context}: cni plugin not initialized` : 'cni plugin not initialized');
  }
}

/** Several DELs failed while releasing a pod's networks; every plugin was still asked. */
export class CniTeardownError extends UnknownError {
  constructor(readonly errors: readonly Error[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

/** The teardown error of a failed setup's rollback (CniManager.setup keeps it on the ADD
 * error as `rollbackError`), when the rollback did not release everything. */
export function rollbackErrorOf(err: unknown): Error | undefined {
  if (!(err instanceof Error)) return undefined;
  const rb: unknown = (err as Error & { rollbackError?: unknown }).rollbackError;
  return rb instanceof Error ? rb : undefined;
}
