import type { VersionResponse } from '../generated/types/runtime/v1/VersionResponse';

/**
 * The "version" field: containerd answers "0.1.0", the CRI's own (unused) API version
 * constant, which kubelet only logs. runtime_api_version is the CRI version served: "v1".
 */
const KUBE_API_VERSION = '0.1.0';
export const CRI_RUNTIME_NAME = 'berth';
export const CRI_API_VERSION = 'v1';

/** Version: berth's name and version where containerd gives "containerd" and its own. */
export function criVersion(berthVersion: string): VersionResponse {
  return {
    version: KUBE_API_VERSION,
    runtime_name: CRI_RUNTIME_NAME,
    runtime_version: berthVersion,
    runtime_api_version: CRI_API_VERSION,
  };
}
