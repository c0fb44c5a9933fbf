import { registryName, type Registry, type RegistryKey } from '../domain/model.js';
import { parseRegistryName } from '../domain/names.js';
import type { Clock, Store } from './ports.js';

interface Entry {
  registry: Registry;
  loadedAt: number;
  /** A background reload is under way (peek found the entry old). */
  reloading: boolean;
}

/**
 * Registries as the bridges see them: read once, dropped when the API changes them (a
 * `registry-changed` bus event), so routing a message never reads the store. Entries also age out
 * after `maxAgeMs`: a bus event that never arrived (a node restarting, a network partition) leaves
 * a registry stale for at most that long, never for ever.
 */
export class RegistryCache {
  private readonly byName = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<Store, 'getRegistry'>,
    private readonly clock: Clock,
    private readonly maxAgeMs: number,
  ) {}

  async get(key: RegistryKey): Promise<Registry | undefined> {
    const name = registryName(key);
    const hit = this.byName.get(name);
    if (hit && !this.old(hit)) return hit.registry;
    return this.load(name, key);
  }

  /**
   * The cached registry, without I/O (the per-message path); undefined when not cached. An old
   * entry is still returned, and reloaded in the background, so that no message waits on the store.
   * `now` is the caller's reading of the clock, when it has one: a clock read per message costs
   * more than the lookup.
   */
  peek(name: string, now: number = this.clock.now()): Registry | undefined {
    const hit = this.byName.get(name);
    if (hit && !hit.reloading && this.old(hit, now)) {
      hit.reloading = true;
      this.load(name, parseRegistryName(name, 'name')).catch(() => {
        hit.reloading = false;
      });
    }
    return hit?.registry;
  }

  put(registry: Registry): void {
    this.byName.set(registryName(registry), { registry, loadedAt: this.clock.now(), reloading: false });
  }

  /** Drops the cached copy and reads the current one (routing of live sessions follows at once). */
  async refresh(name: string): Promise<void> {
    this.byName.delete(name);
    await this.load(name, parseRegistryName(name, 'name'));
  }

  private old(e: Entry, now = this.clock.now()): boolean {
    return now - e.loadedAt >= this.maxAgeMs;
  }

  private async load(name: string, key: RegistryKey): Promise<Registry | undefined> {
    const registry = await this.store.getRegistry(key);
    // Two loads racing may finish out of order; the loser is corrected within maxAgeMs at worst.
    if (registry) this.put(registry);
    else this.byName.delete(name);
    return registry;
  }
}
