// Original destination of a connection that iptables REDIRECTed to one of our listeners (SO_ORIGINAL_DST).
// Owns: calling the native getsockopt addon (native-addon.ts loads it), choosing IPv4/IPv6 option by the socket's local address,
// parsing the kernel's sockaddr. Must never: decide what to do with the connection, read or write its
// bytes, or guess a destination when the kernel has none (it answers null instead).
import net from 'node:net';
import { loadNativeAddon } from '../native-addon.js';

export interface SocketAddress {
  address: string;
  port: number;
  family: 4 | 6;
}

interface SockoptAddon {
  getsockopt(fd: number, level: number, optname: number, maxLen: number): Buffer;
}

const SOL_IP = 0;
const SOL_IPV6 = 41;
const SO_ORIGINAL_DST = 80; // linux/netfilter_ipv4.h
const IP6T_SO_ORIGINAL_DST = 80; // linux/netfilter_ipv6/ip6_tables.h
const SOCKADDR_IN_LEN = 16;
const SOCKADDR_IN6_LEN = 28;
const AF_INET = 2;
const AF_INET6 = 10;

function loadAddon(): SockoptAddon {
  return loadNativeAddon<SockoptAddon>('sockopt', 'getsockopt');
}

/** Loads the addon now; throws with a message naming the fix when it is missing. Call at start-up to fail fast. */
export function ensureOriginalDestinationSupport(): void {
  loadAddon();
}

/**
 * The address the client dialled before REDIRECT sent it to us.
 * Returns null when the kernel has no answer (not redirected, no conntrack entry, socket already closed)
 * and when the answer is the socket's own local address (a direct connection to our listener, which is how
 * conntrack answers for connections it saw but did not NAT). Throws only when the native addon is missing.
 */
export function originalDestination(socket: net.Socket): SocketAddress | null {
  const getsockopt = loadAddon().getsockopt;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  const local = socket.localAddress;
  if (local === undefined) return null;

  const ipv4 = net.isIPv4(local) || isIpv4Mapped(local);
  let bytes: Buffer;
  try {
    bytes = ipv4
      ? getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, SOCKADDR_IN_LEN)
      : getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, SOCKADDR_IN6_LEN);
  } catch {
    return null; // ENOENT: no conntrack entry; EBADF/ENOTCONN: the socket went away
  }

  let destination: SocketAddress;
  try {
    destination = parseSockaddr(bytes);
  } catch {
    return null;
  }
  if (destination.port === socket.localPort && sameAddress(destination.address, local)) return null;
  return destination;
}

/**
 * Parses a Linux sockaddr_in (16 bytes, family AF_INET) or sockaddr_in6 (28 bytes, family AF_INET6)
 * as getsockopt writes it: family in host (little-endian) order, port big-endian.
 * IPv6 text is what Node prints (RFC 5952 compression, embedded IPv4 for ::ffff:a.b.c.d and ::a.b.c.d).
 * Throws a RangeError on a buffer too short for its family or an unknown family.
 */
export function parseSockaddr(buf: Buffer): SocketAddress {
  if (buf.length < 2) throw new RangeError(`sockaddr too short: ${buf.length} bytes`);
  const family = buf.readUInt16LE(0);
  if (family === AF_INET) {
    if (buf.length < 8) throw new RangeError(`sockaddr_in too short: ${buf.length} bytes`);
    return { address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port: buf.readUInt16BE(2), family: 4 };
  }
  if (family === AF_INET6) {
    if (buf.length < 24) throw new RangeError(`sockaddr_in6 too short: ${buf.length} bytes`);
    return { address: formatIpv6(buf.subarray(8, 24)), port: buf.readUInt16BE(2), family: 6 };
  }
  throw new RangeError(`unknown address family ${family}`);
}

/** 16 bytes → text, the same algorithm as libuv's inet_ntop6 (which Node uses to print addresses). */
export function formatIpv6(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`IPv6 address must be 16 bytes, got ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);

  // Longest run of zero words (first one wins a tie); runs shorter than two are not compressed.
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase !== -1) {
      if (curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
      curBase = -1;
    }
  }
  if (curBase !== -1 && curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
  if (bestLen < 2) bestBase = -1;

  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      text += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      break;
    }
    text += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) text += ':';
  return text;
}

function isIpv4Mapped(address: string): boolean {
  return address.toLowerCase().startsWith('::ffff:') && net.isIPv4(address.slice(7));
}

function unmapIpv4(address: string): string {
  return isIpv4Mapped(address) ? address.slice(7) : address.toLowerCase();
}

function sameAddress(a: string, b: string): boolean {
  return unmapIpv4(a) === unmapIpv4(b);
}
