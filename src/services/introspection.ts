import type { IntrospectionHandlers } from '../generated/types/containerd/services/introspection/v1/Introspection';
import type { PluginsRequest__Output } from '../generated/types/containerd/services/introspection/v1/PluginsRequest';
import { unary } from './call';
import type { ServiceDeps } from './context';

export const INTROSPECTION_SERVICE = 'containerd.services.introspection.v1.Introspection';

export function introspectionService(deps: ServiceDeps): IntrospectionHandlers {
  return {
    Plugins: unary(deps.log, 'Introspection.Plugins', async (req: PluginsRequest__Output) => ({
      plugins: deps.plugins.list(req.filters).map((p) => ({
        type: p.type,
        id: p.id,
        requires: p.requires,
        platforms: p.platforms,
        exports: p.exports,
        capabilities: p.capabilities,
        init_err: p.initError ? { code: p.initError.code, message: p.initError.message, details: [] } : null,
      })),
    })),
    Server: unary(deps.log, 'Introspection.Server', async () => ({ uuid: deps.uuid })),
  };
}
