/**
 * A label whose values come from users (registry names): the first `max` distinct values keep
 * their own series, every later one is reported as `overflow` (docs/compat.md C-METRICS-LABELS).
 * A value once admitted stays admitted for the life of the process, so a series never changes
 * label mid-way; deleting a registry does not free its place.
 */
export class BoundedLabels {
  private readonly admitted = new Set<string>();

  constructor(
    readonly max: number,
    readonly overflow: string = 'other',
  ) {}

  label(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size >= this.max || value === this.overflow) return this.overflow;
    this.admitted.add(value);
    return value;
  }

  get size(): number {
    return this.admitted.size;
  }
}
