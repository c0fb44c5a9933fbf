/**
 * The floor of a Node MQTT-over-TLS server, run as its own process by connect-storm.ts: a bare
 * `tls.createServer` with the certificate it is given (argv: cert file, key file), whose every
 * socket, on its first bytes (the CONNECT), gets a CONNACK 0 and then just stays open. No MQTT
 * parsing, no JWT, no store: what a TLS connect and an idle TLS socket cost Node itself. Prints
 * its port on stdout; the bench's GC hook may be preloaded as for Bridgehead.
 */
import { readFileSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import { listenForBench } from './floor-listen.js';

const [certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) throw new Error('usage: bare-tls-server.js CERT KEY');
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const sockets = new Set<TLSSocket>();
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (s) => {
  sockets.add(s);
  s.setNoDelay(true);
  s.on('error', () => undefined);
  s.once('data', () => s.write(CONNACK));
  s.on('data', () => undefined);
  s.once('close', () => sockets.delete(s));
});
listenForBench(server, sockets);
