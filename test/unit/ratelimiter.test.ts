import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeRateLimiter, handshakeSourceKey } from '../../src/device/ratelimiter';
import { parseIp } from '../../src/device/ip';

test('a new source may burst 5, then is held to 20 per second', () => {
  const rl = new HandshakeRateLimiter();
  const t0 = 1000;
  for (let i = 0; i < 5; i++) assert.equal(rl.allow('1.2.3.4', t0), true, `burst ${i}`);
  assert.equal(rl.allow('1.2.3.4', t0), false);
  assert.equal(rl.allow('1.2.3.4', t0 + 49), false, 'one token takes 50 ms');
  assert.equal(rl.allow('1.2.3.4', t0 + 50), true);
  assert.equal(rl.allow('1.2.3.4', t0 + 50), false);
  // Over a long flood, admissions track 20/s.
  let allowed = 0;
  for (let ms = t0 + 51; ms < t0 + 51 + 10_000; ms++) if (rl.allow('1.2.3.4', ms)) allowed++;
  assert.ok(allowed >= 199 && allowed <= 201, `allowed ${allowed} in 10 s`);
});

test('the burst refills to 5 and no further', () => {
  const rl = new HandshakeRateLimiter();
  for (let i = 0; i < 5; i++) rl.allow('k', 0);
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (rl.allow('k', 900)) allowed++; // 900 ms would be 18 tokens uncapped
  assert.equal(allowed, 5);
});

test('sources are independent', () => {
  const rl = new HandshakeRateLimiter();
  for (let i = 0; i < 5; i++) assert.equal(rl.allow('a', 0), true);
  assert.equal(rl.allow('a', 0), false);
  assert.equal(rl.allow('b', 0), true);
  assert.equal(rl.trackedSources, 2);
});

test('options change rate and burst', () => {
  const rl = new HandshakeRateLimiter({ perSecond: 2, burst: 1 });
  assert.equal(rl.allow('a', 0), true);
  assert.equal(rl.allow('a', 499), false);
  assert.equal(rl.allow('a', 500), true);
  assert.throws(() => new HandshakeRateLimiter({ perSecond: 0 }), RangeError);
  assert.throws(() => new HandshakeRateLimiter({ burst: 0 }), RangeError);
});

test('idle sources are collected from inside allow()', () => {
  const rl = new HandshakeRateLimiter();
  for (let i = 0; i < 100; i++) rl.allow(`s${i}`, 0);
  assert.equal(rl.trackedSources, 100);
  rl.allow('s0', 500); // keeps s0 fresh; too early for a sweep
  assert.equal(rl.trackedSources, 100);
  rl.allow('fresh', 1200); // sweep: everything idle for >= 1 s goes, s0 (700 ms idle) stays
  assert.equal(rl.trackedSources, 2);
  rl.allow('fresh', 1700); // within a second of the last sweep: no sweep
  assert.equal(rl.trackedSources, 2);
  rl.allow('fresh', 2300);
  assert.equal(rl.trackedSources, 1);
});

test('a full table refuses new sources but keeps serving known ones until a sweep frees room', () => {
  const rl = new HandshakeRateLimiter({ maxEntries: 3 });
  assert.equal(rl.allow('a', 0), true);
  assert.equal(rl.allow('b', 0), true);
  assert.equal(rl.allow('c', 100), true);
  assert.equal(rl.allow('d', 100), false);
  assert.equal(rl.trackedSources, 3);
  assert.equal(rl.allow('a', 200), true);
  assert.equal(rl.allow('d', 1050), true, 'b idle for >= 1 s was swept'); // 'a' and 'c' are still fresh
  assert.equal(rl.trackedSources, 3);
  assert.equal(rl.allow('e', 1060), false);
});

test('a clock stepping backwards neither refills nor breaks the bucket', () => {
  const rl = new HandshakeRateLimiter();
  for (let i = 0; i < 5; i++) rl.allow('a', 10_000);
  assert.equal(rl.allow('a', 5_000), false);
  assert.equal(rl.allow('a', 10_049), false);
  assert.equal(rl.allow('a', 10_050), true);
});

test('handshakeSourceKey: IPv4 address, IPv6 /64', () => {
  const key = (s: string): string => handshakeSourceKey(parseIp(s)!);
  assert.equal(key('192.0.2.1'), '192.0.2.1');
  assert.notEqual(key('192.0.2.1'), key('192.0.2.2'));
  assert.equal(key('2001:db8:1:2::1'), key('2001:db8:1:2:ffff:ffff:ffff:ffff'));
  assert.notEqual(key('2001:db8:1:2::1'), key('2001:db8:1:3::1'));
  assert.notEqual(key('::1.2.3.4'), key('1.2.3.4'));
});
