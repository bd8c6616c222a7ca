import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';

export interface Platform {
  os: string;
  architecture: string;
  variant: string;
}

/** What Introspection.Plugins reports about one component of the daemon. */
export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  platforms: Platform[];
  exports: Record<string, string>;
  capabilities: string[];
  /** Set when the plugin failed to initialise: reported, not fatal. */
  initError?: { code: number; message: string };
}

/** containerd's plugin type names, so clients filtering on them find berth's parts. */
export const PluginType = {
  metadata: 'io.containerd.metadata.v1',
  event: 'io.containerd.event.v1',
  grpc: 'io.containerd.grpc.v1',
  ttrpc: 'io.containerd.ttrpc.v1',
  gc: 'io.containerd.gc.v1',
  lease: 'io.containerd.lease.v1',
  content: 'io.containerd.content.v1',
  snapshotter: 'io.containerd.snapshotter.v1',
  differ: 'io.containerd.differ.v1',
  runtime: 'io.containerd.runtime.v2',
  service: 'io.containerd.service.v1',
  streaming: 'io.containerd.streaming.v1',
  transfer: 'io.containerd.transfer.v1',
} as const;

export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return { os: 'linux', architecture: arch, variant: '' };
}

/** The daemon's parts in registration order (the order `ctr plugins ls` prints). */
export class PluginRegistry {
  private readonly plugins: PluginInfo[] = [];

  register(p: Partial<PluginInfo> & Pick<PluginInfo, 'type' | 'id'>): void {
    this.plugins.push({ requires: [], platforms: [], exports: {}, capabilities: [], ...p });
  }

  list(filters: readonly string[]): PluginInfo[] {
    const filter = parseListFilters(filters);
    return this.plugins.filter((p) => filter.match(adaptFields({ type: p.type, id: p.id })));
  }
}
