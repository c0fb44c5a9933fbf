/** An error as the API answered it (Google's error JSON), with the field it names if any. */
export interface ApiProblem {
  status: string;
  message: string;
  /** The request field the error names (`device_registry.id`), from google.rpc.BadRequest. */
  field?: string;
  httpStatus: number;
}

interface ErrorJson {
  error?: { code?: number; message?: string; status?: string; details?: { '@type'?: string; fieldViolations?: { field?: string; description?: string }[] }[] };
  error_description?: string;
}

/** What the body of a failed response says, in words; a body that is not the API's JSON is described by its status. */
export function problemOf(httpStatus: number, body: string): ApiProblem {
  let doc: ErrorJson | undefined;
  try {
    doc = JSON.parse(body) as ErrorJson;
  } catch {
    doc = undefined;
  }
  const e = doc?.error;
  if (e && typeof e === 'object') {
    const violation = e.details?.flatMap((d) => d.fieldViolations ?? []).find((v) => typeof v.field === 'string');
    return {
      status: e.status ?? String(httpStatus),
      message: e.message ?? `The server answered HTTP ${httpStatus}.`,
      ...(violation?.field ? { field: violation.field } : {}),
      httpStatus,
    };
  }
  // The OAuth token endpoint's shape.
  if (doc && typeof doc.error_description === 'string') return { status: String(doc.error ?? httpStatus), message: doc.error_description, httpStatus };
  return { status: String(httpStatus), message: body.trim().slice(0, 300) || `The server answered HTTP ${httpStatus}.`, httpStatus };
}

/**
 * Which input of a form a problem belongs to: the form's field whose API name is the problem's
 * field or a prefix of it (`device.credentials` takes `device.credentials[0].public_key.key`),
 * the longest such; undefined when none is (the form shows it at the top).
 */
export function fieldFor(problem: ApiProblem | undefined, fields: readonly string[]): string | undefined {
  const named = problem?.field;
  if (!named) return undefined;
  let best: string | undefined;
  for (const f of fields) {
    const matches = named === f || named.startsWith(`${f}.`) || named.startsWith(`${f}[`);
    if (matches && (best === undefined || f.length > best.length)) best = f;
  }
  return best;
}

/** lastErrorStatus (a google.rpc.Status) in words. */
export function statusInWords(status: { code?: number; message?: string } | undefined): string {
  if (!status || (!status.code && !status.message)) return 'No error recorded.';
  const name = CODE_NAMES[status.code ?? 0] ?? `code ${status.code}`;
  return `${status.message ?? '(no message)'} (${name})`;
}

const CODE_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'cancelled',
  2: 'unknown error',
  3: 'invalid argument',
  4: 'deadline exceeded',
  5: 'not found',
  6: 'already exists',
  7: 'permission denied',
  8: 'resource exhausted',
  9: 'failed precondition',
  10: 'aborted',
  11: 'out of range',
  12: 'not implemented',
  13: 'internal error',
  14: 'unavailable',
  15: 'data loss',
  16: 'unauthenticated',
};

/** A time the API gave (RFC 3339) as "2 min ago"; "never" for none (or Google's zero time). */
export function ago(iso: string | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return 'never';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
