/**
 * The service-account key file, in Google's exact format (what `gcloud iam service-accounts keys
 * create` writes and GOOGLE_APPLICATION_CREDENTIALS names): the server builds it once, when the
 * key is created, and the CLI reads it to sign its own JWTs (docs/compat.md C-SA-KEYFILE).
 */

export interface KeyFile {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  /** PKCS#8 PEM. */
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  /** Bridgehead's token endpoint (POST, jwt-bearer grant). */
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  /** Google's auth libraries refuse credentials of another universe than the client's, googleapis.com by default. */
  universe_domain: string;
}

export function buildKeyFile(k: { project: string; keyId: string; privateKeyPem: string; email: string; uniqueId: string; tokenUri: string }): KeyFile {
  // Field order as Google writes it.
  return {
    type: 'service_account',
    project_id: k.project,
    private_key_id: k.keyId,
    private_key: k.privateKeyPem,
    client_email: k.email,
    client_id: k.uniqueId,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: k.tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(k.email)}`,
    universe_domain: 'googleapis.com',
  };
}

/** The file's text as Google's tools write it: two-space indentation and a final newline. */
export const keyFileText = (f: KeyFile): string => `${JSON.stringify(f, null, 2)}\n`;

/** The fields a signer needs, or a message saying what is wrong with the text. */
export function parseKeyFile(text: string): { ok: true; file: Pick<KeyFile, 'project_id' | 'private_key_id' | 'private_key' | 'client_email' | 'token_uri'> } | { ok: false; message: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, message: 'it is not JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, message: 'it is not a JSON object' };
  const d = doc as Record<string, unknown>;
  if (d.type !== 'service_account') return { ok: false, message: `its "type" is ${JSON.stringify(d.type ?? null)}, not "service_account"` };
  for (const field of ['project_id', 'private_key_id', 'private_key', 'client_email', 'token_uri'] as const) {
    if (typeof d[field] !== 'string' || d[field] === '') return { ok: false, message: `it lacks "${field}"` };
  }
  return {
    ok: true,
    file: {
      project_id: d.project_id as string,
      private_key_id: d.private_key_id as string,
      private_key: d.private_key as string,
      client_email: d.client_email as string,
      token_uri: d.token_uri as string,
    },
  };
}
