import { invalidArgument } from './errors.js';

/**
 * Opaque page tokens (spec §3.8): the sort key of the last item returned, versioned so that the
 * format can change without old tokens being misread.
 */
const PREFIX = 'bh1:';

export function encodePageToken(after: string): string {
  return base64url(PREFIX + after);
}

export function decodePageToken(token: string | undefined): string | undefined {
  if (token === undefined || token === '') return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? fromBase64url(token) : '';
  if (!text.startsWith(PREFIX) || text.length === PREFIX.length) {
    throw invalidArgument('page_token', 'Invalid page_token: pass back the nextPageToken of a previous response unchanged.', 'INVALID_PAGE_TOKEN');
  }
  return text.slice(PREFIX.length);
}

// btoa/atob keep this module free of node:buffer; tokens are ASCII IDs.
function base64url(s: string): string {
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(s: string): string {
  try {
    return atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return '';
  }
}

export function checkPageSize(pageSize: number, max: number, dflt: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalidArgument('page_size', 'page_size must be a non-negative integer.');
  return pageSize === 0 ? dflt : Math.min(pageSize, max);
}
