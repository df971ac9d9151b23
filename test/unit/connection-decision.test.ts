// Unit: the one intercept / splice / refuse decision, as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideConnection, type ConnectionFacts } from '../../src/intercept/connection-decision.js';

const intercepted = (n: string | null) => n === 'proxy.golang.org';
const dst = { address: '203.0.113.7', port: 443, family: 4 as const };
const base: ConnectionFacts = { arrival: 'transparent-tls', destination: dst, destinationIsGateway: false, destinationIsOwnListener: false, intercepted };

test('transparent TLS: refuse unredirected and loops, peek first, then intercept exact names only', () => {
  assert.equal(decideConnection({ ...base, destination: null }).action, 'refuse');
  assert.equal(decideConnection({ ...base, destinationIsOwnListener: true }).action, 'refuse');
  assert.deepEqual(decideConnection(base), { action: 'peek' });
  assert.deepEqual(decideConnection({ ...base, peeked: { kind: 'tls', sni: 'proxy.golang.org' } }), { action: 'intercept', host: 'proxy.golang.org' });
  for (const sni of ['PROXY.golang.org.', 'x.proxy.golang.org', null, 'example.com']) {
    assert.equal(decideConnection({ ...base, peeked: { kind: 'tls', sni } }).action, 'splice', String(sni));
  }
  assert.equal(decideConnection({ ...base, peeked: { kind: 'not-tls' } }).action, 'splice');
  assert.equal(decideConnection({ ...base, peeked: { kind: 'too-large' } }).action, 'splice');
  assert.equal(decideConnection({ ...base, peeked: { kind: 'timeout' } }).action, 'drop');
  assert.equal(decideConnection({ ...base, peeked: { kind: 'closed' } }).action, 'drop');
  assert.equal(decideConnection({ ...base, destinationIsGateway: true, peeked: { kind: 'tls', sni: 'example.com' } }).action, 'refuse');
});

test('transparent HTTP: the onboarding page for the gateway itself on port 80, Host decides otherwise', () => {
  const http: ConnectionFacts = { ...base, arrival: 'transparent-http', destination: { ...dst, port: 80 } };
  assert.equal(decideConnection({ ...http, destinationIsGateway: true }).action, 'onboarding');
  assert.equal(decideConnection({ ...http, peeked: { kind: 'http', host: 'proxy.golang.org' } }).action, 'intercept');
  assert.equal(decideConnection({ ...http, peeked: { kind: 'http', host: 'example.com' } }).action, 'splice');
  assert.equal(decideConnection({ ...http, peeked: { kind: 'not-http' } }).action, 'splice');
});

test('CONNECT: intercepted names need a matching SNI; others are resolved, and never spliced to the gateway', () => {
  const c: ConnectionFacts = { ...base, arrival: 'connect', destination: null, connectHost: 'proxy.golang.org' };
  assert.deepEqual(decideConnection(c), { action: 'peek' });
  assert.equal(decideConnection({ ...c, peeked: { kind: 'tls', sni: 'proxy.golang.org' } }).action, 'intercept');
  assert.equal(decideConnection({ ...c, peeked: { kind: 'tls', sni: 'other.example' } }).action, 'refuse');
  assert.equal(decideConnection({ ...c, peeked: { kind: 'not-tls' } }).action, 'refuse');
  assert.equal(decideConnection({ ...c, peeked: { kind: 'timeout' } }).action, 'drop');
  const other: ConnectionFacts = { ...c, connectHost: 'example.com' };
  assert.deepEqual(decideConnection(other), { action: 'resolve' });
  assert.equal(decideConnection({ ...other, destination: dst }).action, 'splice');
  assert.equal(decideConnection({ ...other, destination: { address: '127.0.0.1', port: 443, family: 4 }, destinationIsGateway: true }).action, 'refuse');
});
