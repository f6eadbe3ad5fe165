import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareTai64n, isTai64nAfter, tai64nFromUnixMs } from '../../src/protocol/tai64n';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('layout: 2^62 + 10 + seconds, then whitened nanoseconds, big-endian', () => {
  assert.equal(hex(tai64nFromUnixMs(0)), '400000000000000a' + '00000000');
  const t = tai64nFromUnixMs(1_700_000_000_123);
  assert.equal(t.length, 12);
  const view = new DataView(t.buffer);
  assert.equal(view.getBigUint64(0), 2n ** 62n + 10n + 1_700_000_000n);
  // 123 ms = 123,000,000 ns rounded down to a multiple of 2^24 = 7 * 16,777,216.
  assert.equal(view.getUint32(8), 7 * 2 ** 24);
  assert.equal(view.getUint32(8) % 2 ** 24, 0);
});

test('nanoseconds are rounded down to 2^24 ns steps', () => {
  for (let ms = 0; ms < 1000; ms++) {
    const nanos = new DataView(tai64nFromUnixMs(5000 + ms).buffer).getUint32(8);
    assert.equal(nanos, Math.floor((ms * 1e6) / 2 ** 24) * 2 ** 24, `${ms} ms`);
  }
  // 16 ms and 17 ms fall either side of the first step (16.777216 ms).
  assert.equal(compareTai64n(tai64nFromUnixMs(16), tai64nFromUnixMs(0)), 0);
  assert.equal(compareTai64n(tai64nFromUnixMs(17), tai64nFromUnixMs(16)), 1);
});

test('seconds beyond 32 bits carry into the high word', () => {
  const ms = (2 ** 32 + 5) * 1000;
  const view = new DataView(tai64nFromUnixMs(ms).buffer);
  assert.equal(view.getBigUint64(0), 2n ** 62n + 10n + 2n ** 32n + 5n);
});

test('compare and isAfter follow time order', () => {
  const times = [0, 999, 1000, 1016, 1017, 60_000, 1_700_000_000_000, 1_700_000_000_500, 4_000_000_000_000];
  for (const a of times) {
    for (const b of times) {
      const ta = tai64nFromUnixMs(a);
      const tb = tai64nFromUnixMs(b);
      const sa = Math.floor(a / 1000) * 1e9 + Math.floor(((a % 1000) * 1e6) / 2 ** 24) * 2 ** 24;
      const sb = Math.floor(b / 1000) * 1e9 + Math.floor(((b % 1000) * 1e6) / 2 ** 24) * 2 ** 24;
      assert.equal(compareTai64n(ta, tb), Math.sign(sa - sb), `${a} vs ${b}`);
      assert.equal(isTai64nAfter(ta, tb), sa > sb);
    }
  }
  assert.equal(compareTai64n(new Uint8Array([1, 0]), new Uint8Array([0, 255])), 1);
  assert.equal(compareTai64n(new Uint8Array([0, 255]), new Uint8Array([1, 0])), -1);
});

test('rejects times that are not valid Unix milliseconds', () => {
  for (const bad of [-1, NaN, Infinity]) assert.throws(() => tai64nFromUnixMs(bad), RangeError);
});
