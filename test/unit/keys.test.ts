import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { KEY_LENGTH, decodeHexKey, decodeKey, encodeHexKey, encodeKey, isZeroKey } from '../../src/protocol/keys';

const ZERO_BASE64 = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

test('the all-zero key encodes to 43 As and one =', () => {
  assert.equal(encodeKey(new Uint8Array(KEY_LENGTH)), ZERO_BASE64);
  assert.deepEqual(decodeKey(ZERO_BASE64), new Uint8Array(KEY_LENGTH));
});

test('a known key pair text (from wg(8) examples) decodes to the bytes node reads', () => {
  const text = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
  assert.deepEqual(decodeKey(text), new Uint8Array(Buffer.from(text, 'base64')));
});

test('every byte value in every position survives base64 and hex, matching node', () => {
  for (let round = 0; round < 300; round++) {
    const key = new Uint8Array(randomBytes(KEY_LENGTH));
    // Force the extremes into some rounds so every alphabet edge is used.
    if (round < 256) key[round % KEY_LENGTH] = round;
    const base64 = encodeKey(key);
    assert.equal(base64, Buffer.from(key).toString('base64'));
    assert.deepEqual(decodeKey(base64), key);
    const hex = encodeHexKey(key);
    assert.equal(hex, Buffer.from(key).toString('hex'));
    assert.deepEqual(decodeHexKey(hex), key);
  }
});

test('all 64 base64 characters decode in every position of a group', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) {
    for (let position = 0; position < 4; position++) {
      const chars = ZERO_BASE64.split('');
      chars[4 + position] = alphabet[i]!;
      const text = chars.join('');
      assert.deepEqual(decodeKey(text), new Uint8Array(Buffer.from(text, 'base64')), text);
    }
  }
});

test('non-canonical encodings are rejected: the last character must leave its 2 unused bits zero', () => {
  // 'B' = 000001: its low bits fall outside the 32 bytes, so node would read the same key.
  const nonCanonical = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=';
  assert.deepEqual(new Uint8Array(Buffer.from(nonCanonical, 'base64')), new Uint8Array(KEY_LENGTH));
  assert.equal(decodeKey(nonCanonical), undefined);
  for (const last of 'BCDFGHJ') assert.equal(decodeKey(ZERO_BASE64.slice(0, 42) + last + '='), undefined, last);
  // 'E' = 000100: its top four bits 0001 are the low half of byte 31.
  const expected = new Uint8Array(KEY_LENGTH);
  expected[31] = 0x01;
  assert.deepEqual(decodeKey(ZERO_BASE64.slice(0, 42) + 'E='), expected);
});

test('malformed base64 keys are rejected', () => {
  const bad = [
    '',
    ZERO_BASE64.slice(0, 43), // no '='
    ZERO_BASE64 + '=',
    'A' + ZERO_BASE64, // 45 characters
    ZERO_BASE64.slice(0, 43) + 'A', // 44 characters but no padding
    ZERO_BASE64.slice(0, 41) + '==', // 31 bytes' worth
    ZERO_BASE64.replace('A', '-'), // base64url alphabet
    ZERO_BASE64.replace('A', '_'),
    ZERO_BASE64.replace('A', ' '),
    ZERO_BASE64.replace('A', '='),
    ZERO_BASE64.replace('A', 'é'),
    ZERO_BASE64.replace('A', '\u0141'), // 'A' + 0x100: must not alias to a valid character
    ZERO_BASE64.slice(0, 20) + '\uD83D' + ZERO_BASE64.slice(21),
  ];
  for (const text of bad) assert.equal(decodeKey(text), undefined, JSON.stringify(text));
});

test('hex keys: lower case is produced, either case accepted, anything else rejected', () => {
  const key = new Uint8Array(KEY_LENGTH).map((_, i) => i * 8 + 7);
  const hex = encodeHexKey(key);
  assert.match(hex, /^[0-9a-f]{64}$/);
  assert.deepEqual(decodeHexKey(hex.toUpperCase()), key);
  assert.equal(decodeHexKey(hex.slice(1)), undefined);
  assert.equal(decodeHexKey(hex + '0'), undefined);
  assert.equal(decodeHexKey('g' + hex.slice(1)), undefined);
  assert.equal(decodeHexKey(hex.slice(0, 63) + ' '), undefined);
  assert.equal(decodeHexKey(hex.slice(0, 10) + '\u0130' + hex.slice(11)), undefined);
  assert.deepEqual(decodeHexKey('0'.repeat(64)), new Uint8Array(KEY_LENGTH));
  assert.equal(encodeHexKey(new Uint8Array(KEY_LENGTH).fill(0xff)), 'f'.repeat(64));
});

test('encoders refuse keys of the wrong length', () => {
  assert.throws(() => encodeKey(new Uint8Array(31)), RangeError);
  assert.throws(() => encodeHexKey(new Uint8Array(33)), RangeError);
});

test('isZeroKey notices a single set bit anywhere', () => {
  assert.equal(isZeroKey(new Uint8Array(KEY_LENGTH)), true);
  for (let i = 0; i < KEY_LENGTH; i++) {
    const key = new Uint8Array(KEY_LENGTH);
    key[i] = 0x80 >> i % 8;
    assert.equal(isZeroKey(key), false, `byte ${i}`);
  }
});

test('accepts exactly the final characters the real wg(8) accepts', (t) => {
  const wg = spawnSync('wg', ['--version']);
  if (wg.error !== undefined) {
    t.skip('wg(8) is not installed');
    return;
  }
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-';
  for (const last of alphabet) {
    const text = ZERO_BASE64.slice(0, 42) + last + '=';
    // `wg pubkey` reads a private key and fails with a format error unless it decodes.
    const wgAccepts = spawnSync('wg', ['pubkey'], { input: text + '\n' }).status === 0;
    assert.equal(decodeKey(text) !== undefined, wgAccepts, text);
  }
});
