/** One page of a keyset-paged list. */
export interface Page<T> {
  items: T[];
  /** Sort key of the last item when more may follow; undefined at the end. */
  next: string | undefined;
}

/**
 * Cuts a page from the first `limit + 1` matches in sort order: the extra one only tells that a
 * next page exists, so a list that ends exactly at a page boundary hands out no empty last page.
 */
export function pageOf<T>(matches: Iterable<T>, limit: number, sortKey: (t: T) => string): Page<T> {
  const n = Math.max(1, Math.floor(limit));
  const items: T[] = [];
  let more = false;
  for (const item of matches) {
    if (items.length === n) {
      more = true;
      break;
    }
    items.push(item);
  }
  const last = items[items.length - 1];
  return { items, next: more && last !== undefined ? sortKey(last) : undefined };
}
