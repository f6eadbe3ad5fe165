import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_BITS_TOTAL, COUNTER_WINDOW_SIZE, ReplayWindow } from '../../src/protocol/replay';

test('window constants', () => {
  assert.equal(COUNTER_BITS_TOTAL, 2048);
  assert.equal(COUNTER_WINDOW_SIZE, 2016);
});

test('counter 0 is accepted once', () => {
  const w = new ReplayWindow();
  assert.equal(w.accept(0), true);
  assert.equal(w.accept(0), false);
  assert.equal(w.accept(1), true);
  assert.equal(w.accept(1), false);
});

test('in order, duplicates and out of order within the window', () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 5000; i++) assert.equal(w.accept(i), true, `first ${i}`);
  for (let i = 4999; i >= 5000 - 100; i--) assert.equal(w.accept(i), false, `duplicate ${i}`);
  const w2 = new ReplayWindow();
  assert.equal(w2.accept(100), true);
  assert.equal(w2.accept(50), true);
  assert.equal(w2.accept(99), true);
  assert.equal(w2.accept(0), true);
  assert.equal(w2.accept(50), false);
  assert.equal(w2.accept(101), true);
  assert.equal(w2.accept(100), false);
  for (let i = 1; i < 100; i++) if (i !== 50 && i !== 99) assert.equal(w2.accept(i), true, `late ${i}`);
  for (let i = 0; i <= 101; i++) assert.equal(w2.accept(i), false, `replayed ${i}`);
});

test('exact window boundary: newest - 2016 accepted once, newest - 2017 rejected', () => {
  // Check at every alignment of `newest` within a 32-bit word.
  for (let newest = 3000; newest < 3000 + 64; newest++) {
    const w = new ReplayWindow();
    assert.equal(w.accept(newest), true);
    assert.equal(w.accept(newest - COUNTER_WINDOW_SIZE - 1), false, `too old at newest=${newest}`);
    assert.equal(w.accept(newest - COUNTER_WINDOW_SIZE), true, `oldest usable at newest=${newest}`);
    assert.equal(w.accept(newest - COUNTER_WINDOW_SIZE), false, `oldest usable twice at newest=${newest}`);
    assert.equal(w.accept(newest - 2047), false);
    assert.equal(w.accept(newest - 2048), false);
  }
});

test('every counter in the window is tracked separately (no aliasing in the ring)', () => {
  const newest = 10_000;
  const w = new ReplayWindow();
  assert.equal(w.accept(newest), true);
  for (let c = newest - COUNTER_WINDOW_SIZE; c < newest; c++) assert.equal(w.accept(c), true, `${c}`);
  for (let c = newest - COUNTER_WINDOW_SIZE; c <= newest; c++) assert.equal(w.accept(c), false, `${c} again`);
});

test('moving forward clears stale bits; a big jump clears the whole bitmap', () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 2048; i++) w.accept(i);
  // 2048 + 2048k aliases every earlier slot in the ring: they must read as unseen.
  assert.equal(w.accept(2048 + 31), true);
  for (let c = 2048 + 31 - COUNTER_WINDOW_SIZE; c < 2048; c++) assert.equal(w.accept(c), false, `old ${c} seen`);
  for (let c = 2048; c < 2048 + 31; c++) assert.equal(w.accept(c), true, `new ${c}`);

  const jump = 1_000_000 * 2048; // same ring slots as 0..2047
  assert.equal(w.accept(jump), true);
  for (let c = jump - COUNTER_WINDOW_SIZE; c < jump; c++) assert.equal(w.accept(c), true, `after jump ${c}`);
  assert.equal(w.accept(2000), false, 'far behind after jump');

  const w2 = new ReplayWindow();
  for (let i = 0; i < 64; i++) w2.accept(i);
  assert.equal(w2.accept(64 + 2048), true); // exactly one ring's worth ahead
  for (let c = 64 + 2048 - 1; c > 64 + 2048 - COUNTER_WINDOW_SIZE; c--) assert.equal(w2.accept(c), true, `${c}`);
});

test('large safe counters and defensive rejection of non-counters', () => {
  const w = new ReplayWindow();
  const big = Number.MAX_SAFE_INTEGER;
  assert.equal(w.accept(big - 5), true);
  assert.equal(w.accept(big), true);
  assert.equal(w.accept(big - 5), false);
  assert.equal(w.accept(big - 1), true);
  assert.equal(w.accept(big - COUNTER_WINDOW_SIZE - 1), false);
  assert.equal(w.accept(big - COUNTER_WINDOW_SIZE), true);
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) assert.equal(new ReplayWindow().accept(bad), false, `${bad}`);
});

test('reset forgets everything', () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 10; i++) w.accept(i);
  w.accept(100_000);
  w.reset();
  assert.equal(w.accept(0), true);
  assert.equal(w.accept(5), true);
  assert.equal(w.accept(5), false);
});

test('agrees with a set-based model on random traffic', () => {
  let seed = 99;
  const rand = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const w = new ReplayWindow();
  const seen = new Set<number>();
  let newest = 0;
  for (let i = 0; i < 200_000; i++) {
    const r = rand();
    const c = r < 0.05 ? newest + Math.floor(rand() * 5000) : Math.max(0, newest + 10 - Math.floor(rand() * 2100));
    const expected = !seen.has(c) && !(c < newest && newest - c > COUNTER_WINDOW_SIZE);
    assert.equal(w.accept(c), expected, `counter ${c} newest ${newest}`);
    if (expected) {
      seen.add(c);
      newest = Math.max(newest, c);
    }
  }
});
