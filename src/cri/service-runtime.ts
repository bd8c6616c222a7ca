import type { RuntimeServiceHandlers } from '../generated/types/runtime/v1/RuntimeService';
import type { StatusRequest__Output } from '../generated/types/runtime/v1/StatusRequest';
import type { UpdateRuntimeConfigRequest__Output } from '../generated/types/runtime/v1/UpdateRuntimeConfigRequest';
import { unary } from '../services/call';
import { runtimeRpcs } from './runtime_rpcs';
import type { CriDeps } from './service-deps';
import { withUnimplemented } from './service-unimplemented';
import { criStatus } from './status';
import { updateRuntimeConfig } from './update_runtime_config';
import { criVersion } from './version';

export const RUNTIME_SERVICE = 'runtime.v1.RuntimeService';

/** runtime.v1.RuntimeService: the runtime-wide RPCs here, pods and containers from runtime_rpcs.ts. */
export function runtimeService(deps: CriDeps): RuntimeServiceHandlers {
  return withUnimplemented<RuntimeServiceHandlers>(deps.log, RUNTIME_SERVICE, {
    ...runtimeRpcs(deps),
    Version: unary(deps.log, 'RuntimeService.Version', async () => criVersion(deps.version)),
    Status: unary(deps.log, 'RuntimeService.Status', (req: StatusRequest__Output) => criStatus(deps, req.verbose)),
    UpdateRuntimeConfig: unary(deps.log, 'RuntimeService.UpdateRuntimeConfig', (req: UpdateRuntimeConfigRequest__Output) =>
      updateRuntimeConfig(deps, req.runtime_config?.network_config?.pod_cidr ?? ''),
    ),
  });
}
