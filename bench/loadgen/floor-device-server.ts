/**
 * The floor of a Node MQTT server that authenticates devices the way Cloud IoT Core does, run as
 * its own process by connect-storm.ts (argv: cert file, key file, ES256 public key file, RS256
 * public key file, device count). Per connection, only what no such server can skip: TLS,
 * the CONNECT decoded by mqtt-packet (one parser for the process, fed whole packets), the client ID split
 * into registry and device, the JWT's header and claims parsed and checked, the device read from
 * SQLite (a file in WAL mode, one indexed row per device, as Bridgehead keeps them), its key's
 * signature check with node:crypto (parsed keys cached), and a canned CONNACK 0. No sessions,
 * metrics, logging, activity or takeover: the gap between this and Bridgehead is what Bridgehead
 * itself adds to a connect; the gap between this and the bare TLS server is what the work of any
 * JWT device broker costs on Node. Prints its port on stdout; the bench's GC hook may be preloaded.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import Database from 'better-sqlite3';
import mqtt from 'mqtt-packet';
import { BENCH_REGISTRY, deviceId } from './devices.js';
import { listenForBench } from './floor-listen.js';

const [certFile, keyFile, esFile, rsFile, countArg] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined || esFile === undefined || rsFile === undefined) {
  throw new Error('usage: floor-device-server.js CERT KEY ES256_PUB RS256_PUB [DEVICES]');
}
const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const CONNACK_REFUSED = Buffer.from([0x20, 0x02, 0x00, 0x05]);
const SKEW_S = 600;

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-bench-floor-'));
const db = new Database(join(dir, 'devices.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('CREATE TABLE devices (registry TEXT NOT NULL, id TEXT NOT NULL, num_id INTEGER NOT NULL, es256 TEXT NOT NULL, rs256 TEXT NOT NULL, blocked INTEGER NOT NULL, PRIMARY KEY (registry, id)) WITHOUT ROWID');
const es256Pem = readFileSync(esFile, 'utf8');
const rs256Pem = readFileSync(rsFile, 'utf8');
const insert = db.prepare('INSERT INTO devices VALUES (?, ?, ?, ?, ?, 0)');
db.transaction(() => {
  for (let i = 1; i <= Number(countArg ?? 10_000); i++) insert.run(BENCH_REGISTRY, deviceId(i), i, es256Pem, rs256Pem);
})();
const selectDevice = db.prepare<[string, string], { num_id: number; es256: string; rs256: string; blocked: number }>('SELECT num_id, es256, rs256, blocked FROM devices WHERE registry = ? AND id = ?');
const keys = new Map<string, KeyObject>();
const keyOf = (pem: string): KeyObject => {
  let key = keys.get(pem);
  if (key === undefined) keys.set(pem, (key = createPublicKey(pem)));
  return key;
};

/** True when `password` is a JWT for the device `clientId` names, signed with its key. */
function authenticate(clientId: string, password: Buffer | undefined): boolean {
  // projects/P/locations/L/registries/R/devices/D
  const parts = clientId.split('/');
  if (parts.length !== 8 || parts[0] !== 'projects' || parts[6] !== 'devices') return false;
  if (password === undefined) return false;
  const token = password.toString('utf8');
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0) return false;
  const header = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString('utf8')) as { alg?: string };
  const claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as { aud?: string; iat?: number; exp?: number };
  if (header.alg !== 'ES256' && header.alg !== 'RS256') return false;
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== parts[1] || typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return false;
  if (claims.iat > now + SKEW_S || claims.exp < now - SKEW_S || claims.exp - claims.iat > 86_400 + SKEW_S) return false;
  const row = selectDevice.get(parts[5]!, parts[7]!);
  if (row === undefined || row.blocked !== 0) return false;
  const signingInput = Buffer.from(token.slice(0, dot2), 'ascii');
  const signature = Buffer.from(token.slice(dot2 + 1), 'base64url');
  return header.alg === 'ES256'
    ? verify('sha256', signingInput, { key: keyOf(row.es256), dsaEncoding: 'ieee-p1363' }, signature)
    : verify('sha256', signingInput, keyOf(row.rs256), signature);
}

/**
 * Bytes in the complete first packet at the front of `buf` (fixed header and remaining length),
 * undefined while it is not all in, or -1 when the length is malformed.
 */
function firstPacketBytes(buf: Buffer): number | undefined {
  let length = 0;
  for (let i = 1, shift = 0; i < 5; i++, shift += 7) {
    if (i >= buf.length) return undefined;
    const b = buf[i]!;
    length += (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return buf.length >= i + 1 + length ? i + 1 + length : undefined;
  }
  return -1;
}

// One parser for the process, fed only complete packets, as Bridgehead does: a parser per
// connection costs about 60 µs of a connect (bl buffer lists, stream states), which no server
// need pay.
let parsed: mqtt.Packet | undefined;
const newParser = (): ReturnType<typeof mqtt.parser> => {
  const p = mqtt.parser({ protocolVersion: 4 });
  p.on('packet', (packet) => (parsed = packet));
  // A parser that refused bytes may hold some of them: the next socket gets a fresh one.
  p.on('error', () => {
    parsed = undefined;
    parser = newParser();
  });
  return p;
};
let parser = newParser();

const sockets = new Set<TLSSocket>();
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (s) => {
  sockets.add(s);
  s.setNoDelay(true);
  s.on('error', () => undefined);
  let head: Buffer | undefined;
  const onFirst = (chunk: Buffer): void => {
    head = head === undefined ? chunk : Buffer.concat([head, chunk]);
    const bytes = firstPacketBytes(head);
    if (bytes === undefined) return;
    s.off('data', onFirst);
    s.on('data', () => undefined);
    parsed = undefined;
    if (bytes > 0) parser.parse(head.subarray(0, bytes));
    const packet = parsed as mqtt.Packet | undefined;
    head = undefined;
    if (packet?.cmd !== 'connect') return void s.destroy();
    let ok = false;
    try {
      ok = authenticate(packet.clientId, packet.password);
    } catch {
      ok = false;
    }
    s.write(ok ? CONNACK_OK : CONNACK_REFUSED);
    if (!ok) s.end();
  };
  s.on('data', onFirst);
  s.once('close', () => sockets.delete(s));
});
listenForBench(server, sockets, () => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});
