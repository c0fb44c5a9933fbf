import { registryName, type Registry, type RegistryKey } from '../domain/model.js';
import { parseRegistryName } from '../domain/names.js';
import type { Store } from './ports.js';

/**
 * Registries as the bridges see them: read once, dropped when the API changes them (a
 * `registry-changed` bus event), so routing a message never reads the store.
 */
export class RegistryCache {
  private readonly byName = new Map<string, Registry>();

  constructor(private readonly store: Store) {}

  async get(key: RegistryKey): Promise<Registry | undefined> {
    const name = registryName(key);
    const hit = this.byName.get(name);
    if (hit) return hit;
    const registry = await this.store.getRegistry(key);
    if (registry) this.byName.set(name, registry);
    return registry;
  }

  /** The cached registry, without I/O; undefined when not (or no longer) cached. */
  peek(name: string): Registry | undefined {
    return this.byName.get(name);
  }

  put(registry: Registry): void {
    this.byName.set(registryName(registry), registry);
  }

  /** Drops the cached copy and reads the current one (routing of live sessions follows at once). */
  async refresh(name: string): Promise<void> {
    this.byName.delete(name);
    await this.get(parseRegistryName(name, 'name'));
  }
}
