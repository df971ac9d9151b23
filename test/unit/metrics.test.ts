// Unit: GatewayMetrics renders the series the admin port exposes, with exact values after known observations;
// label values stay within fixed sets; scrape-time callbacks are read at scrape time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { GatewayMetrics, statusClass } from '../../src/admin/metrics.js';

/** `name{labels} value` lines of the exposition text, keyed by everything before the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

test('request counters and bytes by kind and outcome, with exact values', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.observeRequest('zip', 'miss', 1000);
  m.observeRequest('zip', 'hit', 1000);
  m.observeRequest('zip', 'hit', 1000);
  m.observeRequest('list', 'hit', 20);
  m.observeRequest('mod', 'not-found', 0);
  const s = samples(await m.text());
  assert.equal(s.get('gomodgate_requests_total{kind="zip",outcome="miss"}'), 1);
  assert.equal(s.get('gomodgate_requests_total{kind="zip",outcome="hit"}'), 2);
  assert.equal(s.get('gomodgate_requests_total{kind="list",outcome="hit"}'), 1);
  assert.equal(s.get('gomodgate_requests_total{kind="mod",outcome="not-found"}'), 1);
  assert.equal(s.get('gomodgate_response_bytes_total{outcome="hit"}'), 2020);
  assert.equal(s.get('gomodgate_response_bytes_total{outcome="miss"}'), 1000);
  assert.equal(s.has('gomodgate_response_bytes_total{outcome="not-found"}'), false, 'zero bytes add no series');
});

test('label values outside the fixed sets collapse to "other" and "none"', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  for (let i = 0; i < 50; i++) m.observeRequest(`attacker-kind-${i}`, `weird-${i}`, 1);
  m.observeRequest(null, 'refused', 0);
  const s = samples(await m.text());
  assert.equal(s.get('gomodgate_requests_total{kind="other",outcome="other"}'), 50);
  assert.equal(s.get('gomodgate_requests_total{kind="none",outcome="refused"}'), 1);
  const series = [...s.keys()].filter((k) => k.startsWith('gomodgate_requests_total{'));
  assert.equal(series.length, 2);
});

test('upstream latency histogram by host and status class', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.observeUpstream('proxy.golang.org', 200, 0.02);
  m.observeUpstream('proxy.golang.org', 200, 3);
  m.observeUpstream('proxy.golang.org', 404, 0.04);
  m.observeUpstream('proxy.golang.org', 'error', 30);
  const s = samples(await m.text());
  const ok = 'host="proxy.golang.org",status_class="2xx"';
  assert.equal(s.get(`gomodgate_upstream_request_duration_seconds_count{${ok}}`), 2);
  assert.equal(s.get(`gomodgate_upstream_request_duration_seconds_sum{${ok}}`), 3.02);
  assert.equal(s.get(`gomodgate_upstream_request_duration_seconds_bucket{le="0.025",${ok}}`), 1);
  assert.equal(s.get(`gomodgate_upstream_request_duration_seconds_bucket{le="5",${ok}}`), 2);
  assert.equal(s.get(`gomodgate_upstream_request_duration_seconds_bucket{le="+Inf",${ok}}`), 2);
  assert.equal(s.get('gomodgate_upstream_request_duration_seconds_count{host="proxy.golang.org",status_class="4xx"}'), 1);
  assert.equal(s.get('gomodgate_upstream_request_duration_seconds_count{host="proxy.golang.org",status_class="error"}'), 1);
  assert.equal(s.get('gomodgate_upstream_request_duration_seconds_bucket{le="10",host="proxy.golang.org",status_class="error"}'), 0);
});

test('status classes', () => {
  const table: Array<[number | 'error', string]> = [[200, '2xx'], [304, '3xx'], [410, '4xx'], [502, '5xx'], ['error', 'error'], [0, 'error'], [600, 'error']];
  for (const [status, want] of table) assert.equal(statusClass(status), want, String(status));
});

test('connections: observed decisions plus the external stats object, read at scrape time', async () => {
  const stats = { intercepted: 5, spliced: 0, refused: 1 };
  const m = new GatewayMetrics({ processMetrics: false, connectionStats: () => stats });
  m.observeConnection('spliced');
  m.observeConnection('spliced');
  let s = samples(await m.text());
  assert.equal(s.get('gomodgate_connections_total{decision="intercepted"}'), 5);
  assert.equal(s.get('gomodgate_connections_total{decision="spliced"}'), 2);
  assert.equal(s.get('gomodgate_connections_total{decision="refused"}'), 1);
  stats.intercepted = 7;
  s = samples(await m.text());
  assert.equal(s.get('gomodgate_connections_total{decision="intercepted"}'), 7);
  assert.equal(s.get('gomodgate_connections_total{decision="spliced"}'), 2);
});

test('certificates issued: counted here plus the terminator\'s own count read at scrape time', async () => {
  let external = 0;
  const m = new GatewayMetrics({ processMetrics: false, certificatesIssued: () => external });
  assert.equal(samples(await m.text()).get('gomodgate_certificates_issued_total'), 0);
  m.certificateIssued(5);
  m.certificateIssued();
  assert.equal(samples(await m.text()).get('gomodgate_certificates_issued_total'), 6);
  external = 5;
  assert.equal(samples(await m.text()).get('gomodgate_certificates_issued_total'), 11);
});

test('cache and single-flight values come from the callbacks at scrape time', async () => {
  let reads = 0;
  const flights = { inflight: 3, joinedTotal: 17 };
  const m = new GatewayMetrics({
    processMetrics: false,
    cacheTotals: () => {
      reads++;
      return { objects: 42, bytes: 123456, blobBytes: 100000 };
    },
    singleFlight: () => flights,
  });
  assert.equal(reads, 0, 'nothing is read before a scrape');
  const text = await m.text();
  const s = samples(text);
  assert.equal(reads, 1, 'one read serves the three cache gauges');
  assert.equal(s.get('gomodgate_cache_objects'), 42);
  assert.equal(s.get('gomodgate_cache_bytes'), 123456);
  assert.equal(s.get('gomodgate_cache_blob_bytes'), 100000);
  assert.equal(s.get('gomodgate_singleflight_inflight'), 3);
  assert.equal(s.get('gomodgate_singleflight_joined_total'), 17);
  assert.match(text, /# TYPE gomodgate_singleflight_joined_total counter/);
  assert.match(text, /# TYPE gomodgate_cache_objects gauge/);
  flights.inflight = 0;
  flights.joinedTotal = 20;
  const again = samples(await m.text());
  assert.equal(again.get('gomodgate_singleflight_inflight'), 0);
  assert.equal(again.get('gomodgate_singleflight_joined_total'), 20);
});

test('a failing cache callback does not fail the scrape', async () => {
  const m = new GatewayMetrics({
    processMetrics: false,
    cacheTotals: () => {
      throw new Error('database closed');
    },
  });
  m.observeRequest('info', 'hit', 5);
  const s = samples(await m.text());
  assert.equal(s.get('gomodgate_requests_total{kind="info",outcome="hit"}'), 1);
  assert.equal(s.get('gomodgate_cache_objects'), 0);
});

test('two instances keep separate registries, and process metrics are included by default', async () => {
  const a = new GatewayMetrics();
  const b = new GatewayMetrics();
  a.observeRequest('zip', 'hit', 1);
  const sa = samples(await a.text());
  const sb = samples(await b.text());
  assert.equal(sa.get('gomodgate_requests_total{kind="zip",outcome="hit"}'), 1);
  assert.equal(sb.has('gomodgate_requests_total{kind="zip",outcome="hit"}'), false);
  assert.ok([...sa.keys()].some((k) => k.startsWith('process_cpu_user_seconds_total')), 'default process metrics');
  assert.match(a.contentType, /^text\/plain/);
});

test('process_open_fds counts this process\'s open descriptors, once, and follows them', { skip: process.platform !== 'linux' && 'needs /proc' }, async () => {
  const m = new GatewayMetrics({ eventLoopDelay: false });
  const opened: number[] = [];
  try {
    const before = samples(await m.text());
    assert.equal([...before.keys()].filter((k) => k === 'process_open_fds').length, 1, 'one series, no duplicate');
    const open = () => readdirSync('/proc/self/fd').length - 1; // as the gauge counts: without the listing's own
    for (let i = 0; i < 500; i++) opened.push(openSync('/dev/null', 'r'));
    const expected = open();
    const after = samples(await m.text());
    assert.ok(Math.abs(after.get('process_open_fds')! - expected) <= 2, `process_open_fds ${after.get('process_open_fds')}, /proc/self/fd lists ${expected}`);
    assert.ok(after.get('process_open_fds')! - before.get('process_open_fds')! >= 498, 'the 500 opened descriptors are counted');
  } finally {
    for (const fd of opened) closeSync(fd);
    m.close();
  }
});

/** Keeps the event loop busy for `ms` milliseconds of wall time: a deliberate stall. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** One turn of the timers phase: the sampler's timer, due long before this one, runs first. */
const timersTurn = () => new Promise((r) => setTimeout(r, 1));

test('event-loop delay: a 200 ms stall shows in the next scrape, and the window then starts again', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  try {
    await timersTurn();
    stall(200);
    await timersTurn();
    const first = samples(await m.text()).get('gomodgate_event_loop_delay_max_seconds');
    assert.ok(first !== undefined && first >= 0.199, `a 200 ms stall reads ${first} s`);
    // the scrape closed that window: the 200 ms stall is not reported again
    await timersTurn();
    const second = samples(await m.text()).get('gomodgate_event_loop_delay_max_seconds');
    assert.ok(second !== undefined && second < first, `the next window reads ${second} s, not the old ${first} s`);
  } finally {
    m.close();
  }
});

test('event-loop delay can be left out', async () => {
  const m = new GatewayMetrics({ processMetrics: false, eventLoopDelay: false });
  assert.equal(samples(await m.text()).has('gomodgate_event_loop_delay_max_seconds'), false);
  m.close();
});
