import type { NamespacesHandlers } from '../generated/types/containerd/services/namespaces/v1/Namespaces';
import type { CreateNamespaceRequest__Output } from '../generated/types/containerd/services/namespaces/v1/CreateNamespaceRequest';
import type { UpdateNamespaceRequest__Output } from '../generated/types/containerd/services/namespaces/v1/UpdateNamespaceRequest';
import type { GetNamespaceRequest__Output } from '../generated/types/containerd/services/namespaces/v1/GetNamespaceRequest';
import type { DeleteNamespaceRequest__Output } from '../generated/types/containerd/services/namespaces/v1/DeleteNamespaceRequest';
import { unary } from './call';
import { publish, type ServiceDeps } from './context';

export const NAMESPACES_SERVICE = 'containerd.services.namespaces.v1.Namespaces';

export function namespacesService(deps: ServiceDeps): NamespacesHandlers {
  const store = deps.namespaces;
  return {
    // Clients (unpack, containerd.New with a default namespace) call Get on namespaces
    // that may not exist yet and expect OK with empty labels.
    Get: unary(deps.log, 'Namespaces.Get', async (req: GetNamespaceRequest__Output) => {
      const ns = await store.find(req.name);
      return { namespace: { name: req.name, labels: ns?.labels ?? {} } };
    }),

    List: unary(deps.log, 'Namespaces.List', async () => {
      const all = await store.list();
      return { namespaces: all.map((n) => ({ name: n.name, labels: n.labels })) };
    }),

    Create: unary(deps.log, 'Namespaces.Create', async (req: CreateNamespaceRequest__Output, ctx) => {
      const name = req.namespace?.name ?? '';
      const created = await store.create(name, req.namespace?.labels ?? {});
      // Like containerd: the event belongs to the caller's namespace (delete uses the deleted one).
      publish(deps, ctx.namespaceOrEmpty() || name, '/namespaces/create', 'containerd.events.NamespaceCreate', {
        name,
        labels: created.labels,
      });
      return { namespace: { name, labels: created.labels } };
    }),

    Update: unary(deps.log, 'Namespaces.Update', async (req: UpdateNamespaceRequest__Output, ctx) => {
      const name = req.namespace?.name ?? '';
      const labels = req.namespace?.labels ?? {};
      await store.update(name, labels, req.update_mask?.paths ?? []);
      publish(deps, ctx.namespaceOrEmpty() || name, '/namespaces/update', 'containerd.events.NamespaceUpdate', {
        name,
        labels,
      });
      // containerd answers Update with an empty namespace message (observed).
      return { namespace: {} };
    }),

    Delete: unary(deps.log, 'Namespaces.Delete', async (req: DeleteNamespaceRequest__Output) => {
      await store.delete(req.name);
      publish(deps, req.name, '/namespaces/delete', 'containerd.events.NamespaceDelete', { name: req.name });
      deps.gc.schedule();
      return {};
    }),
  };
}
