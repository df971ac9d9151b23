// Answers written straight onto a socket, for what never became an HTTP request we route: a malformed
// request head, a refused CONNECT. One line of text/plain, then the connection is closed; a client that does
// not read its answer is not waited for.
import http from 'node:http';
import type net from 'node:net';

export function rawReply(socket: net.Socket, status: number, text: string): void {
  const body = `gomodgate: ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Node's `clientError` (the parser refused the request head, or it did not arrive in time): 431, 408 or 400
 * when the socket can still take an answer, else just closed. Returns whether an answer was written.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: net.Socket): boolean {
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
