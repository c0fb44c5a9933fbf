import { createHash } from 'node:crypto';

/**
 * Where Pub/Sub topics live in JetStream (issue 12): one stream per project, one subject per
 * topic. Topic and project IDs may hold characters a NATS subject token or stream name cannot
 * ('.', and for domain-scoped projects ':'), so tokens are percent-encoded over a small safe set.
 *
 *   stream  <prefix>_<project>    subjects  <prefix>.ev.<project>.>
 *   subject <prefix>.ev.<project>.<topic>
 *
 * The prefix (default "bh") lets several installations share one NATS account: it is in every
 * subject and every stream name, so two installations with a project of the same ID never meet.
 */

export const DEFAULT_SUBJECT_PREFIX = 'bh';

/** Percent-encodes every byte outside [A-Za-z0-9_-]; reversible, and never '.', '*', '>' or whitespace. */
export function subjectToken(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function parseTopicName(topic: string): { project: string; topicId: string } {
  const m = /^projects\/([^/]+)\/topics\/([^/]+)$/.exec(topic);
  if (!m) throw new Error(`not a topic name: ${topic}`);
  return { project: m[1]!, topicId: m[2]! };
}

export class JetStreamNames {
  constructor(readonly prefix: string = DEFAULT_SUBJECT_PREFIX) {}

  /** Stream names allow [A-Za-z0-9_-]; '%' is replaced so the name stays valid and distinct per project. */
  streamOfProject(project: string): string {
    const name = `${this.prefix}_${subjectToken(project).replace(/%/g, '_')}`;
    // JetStream limits names to 255 bytes (file store); hash the rare long one.
    return name.length <= 200 ? name : `${this.prefix}_${createHash('sha256').update(project).digest('hex').slice(0, 40)}`;
  }

  streamOf(topic: string): string {
    return this.streamOfProject(parseTopicName(topic).project);
  }

  subjectOf(topic: string): string {
    const { project, topicId } = parseTopicName(topic);
    return `${this.prefix}.ev.${subjectToken(project)}.${subjectToken(topicId)}`;
  }

  /** The wildcard a project's stream captures. */
  projectSubjects(project: string): string {
    return `${this.prefix}.ev.${subjectToken(project)}.>`;
  }

  /** Durable consumer of a Pub/Sub subscription: its name hashed (consumer names allow no '/'). */
  consumerOf(subscription: string): string {
    return `sub_${createHash('sha256').update(subscription).digest('hex').slice(0, 40)}`;
  }
}
