import type { Socket } from 'node:net';

/** TLS record header: content type (1), version (2), length (2). */
const RECORD_HEADER_BYTES = 5;
const HANDSHAKE_RECORD = 0x16;
/** Largest record TLS allows (2^14 plaintext plus expansion); a longer declared length is not TLS. */
const MAX_RECORD_BYTES = 16_384 + 2_048;

/**
 * How many bytes a socket must have sent for its first TLS record (the ClientHello) to be
 * complete, judged from its first bytes (`head`, at least RECORD_HEADER_BYTES of them, or fewer
 * when that is enough to tell): undefined while the header is not in yet; 0 when they cannot
 * start a handshake record (TLS itself then refuses them, at once).
 */
export function firstRecordBytes(head: Buffer): number | undefined {
  if (head.length >= 1 && head[0] !== HANDSHAKE_RECORD) return 0;
  if (head.length < RECORD_HEADER_BYTES) return undefined;
  const length = head.readUInt16BE(3);
  return length > MAX_RECORD_BYTES ? 0 : RECORD_HEADER_BYTES + length;
}

/**
 * Reads a freshly accepted socket until its first TLS record (the ClientHello) is complete, then
 * pauses it, puts the bytes back (Node's TLS reads what a socket already holds) and calls
 * `complete`. Until then the socket costs a few small buffers: no TLS socket, no OpenSSL state
 * and none of its 16-64 KiB buffers, which a flood of sockets that never finish their
 * ClientHello would otherwise hold, and leave behind in the allocator, for their whole
 * allowance. Nothing happens if the socket closes first; its deadline is the caller's.
 */
export function awaitClientHello(socket: Socket, complete: (socket: Socket) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let needed: number | undefined;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    bytes += chunk.length;
    // Joined only to read the header, and once: a ClientHello trickled a byte at a time must not
    // cost a copy per byte.
    needed ??= firstRecordBytes(chunks.length === 1 ? chunk : Buffer.concat(chunks, bytes));
    if (needed === undefined || bytes < needed) return;
    socket.pause();
    socket.off('data', onData);
    socket.unshift(chunks.length === 1 ? chunk : Buffer.concat(chunks, bytes));
    complete(socket);
  };
  socket.on('data', onData);
  socket.resume();
}
