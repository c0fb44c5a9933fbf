import { isApiError } from '../domain/errors.js';

const MAX_CONFLICT_RETRIES = 8;

/**
 * Read-modify-write against a conditional store write: a conflict means another request changed
 * the resource between our read and our write, so read again and re-apply. Bounded, because a
 * resource rewritten continuously by others must not pin this request for ever.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(isApiError(e) && e.reason === 'REVISION_CONFLICT') || i >= MAX_CONFLICT_RETRIES) throw e;
    }
  }
}
