import type { VersionHandlers } from '../generated/types/containerd/services/version/v1/Version';
import { unary } from './call';
import type { ServiceDeps } from './context';

export const VERSION_SERVICE = 'containerd.services.version.v1.Version';

export function versionService(deps: ServiceDeps): VersionHandlers {
  return {
    Version: unary(deps.log, 'Version', async () => ({ ...deps.version })),
  };
}
