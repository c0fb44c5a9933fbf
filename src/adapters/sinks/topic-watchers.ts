/** Listeners per topic, called after a commit that touched the topic; shared by the logs' read sides. */
export class TopicWatchers {
  private readonly byTopic = new Map<string, Set<(lastSeq: number) => void>>();

  /** Returns an unsubscribe function; the topic's entry goes with its last listener. */
  add(topic: string, listener: (lastSeq: number) => void): () => void {
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      const s = this.byTopic.get(topic);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.byTopic.delete(topic);
    };
  }

  /**
   * Calls the listeners of each of `topics` (the few topics of a commit, not the many watched
   * ones). A listener that throws is reported and does not stop the others.
   */
  dispatch(topics: Iterable<string>, lastSeq: number, onError: (e: unknown) => void = (e) => { throw e; }): void {
    for (const topic of topics) {
      const set = this.byTopic.get(topic);
      if (!set) continue;
      for (const listener of [...set]) {
        try {
          listener(lastSeq);
        } catch (e) {
          onError(e);
        }
      }
    }
  }

  /** Live listeners over all topics: lets tests and metrics see that readers clean up. */
  count(): number {
    let n = 0;
    for (const s of this.byTopic.values()) n += s.size;
    return n;
  }

  clear(): void {
    this.byTopic.clear();
  }
}
