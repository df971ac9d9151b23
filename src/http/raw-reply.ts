// Answers written straight onto a socket, for what never became an HTTP request we route: a malformed
// request head, a refused CONNECT. One line of text/plain, then our side of the connection is closed. What the
// client still sends is read and dropped for up to LINGER_MS (a lingering close, as nginx's): closing with
// unread bytes makes the kernel send a reset, and a reset makes the client drop the answer it has not read yet.
// A client that does not read its answer is not waited for longer than that.
import http from 'node:http';
import type net from 'node:net';

const LINGER_MS = 2000;

/** Sockets already answered here: Node's parser reports every later chunk as another client error. */
const answered = new WeakSet<net.Socket>();

export function rawReply(socket: net.Socket, status: number, text: string): void {
  answered.add(socket);
  const body = `gomodgate: ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Node's `clientError` (the parser refused the request head, or it did not arrive in time): 431, 408 or 400
 * when the socket can still take an answer, else just closed; nothing for a socket answered already. Returns
 * whether an answer was written.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: net.Socket): boolean {
  // the answer is out and the socket lingers: the parser, still fed, fails again on each chunk; that is no news
  if (answered.has(socket)) return false;
  const code = String(err.code ?? '');
  if (!socket.writable || (!code.startsWith('HPE_') && code !== 'ERR_HTTP_REQUEST_TIMEOUT')) {
    socket.destroy();
    return false;
  }
  if (code === 'HPE_HEADER_OVERFLOW') rawReply(socket, 431, 'request headers too large');
  else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') rawReply(socket, 408, 'request not received in time');
  else rawReply(socket, 400, 'malformed HTTP request');
  return true;
}
