/**
 * The libsodium-wasm transport cipher (src/platform/node/wasm-aead.ts), byte for byte
 * against noble and node:crypto (both checked against RFC 8439 in crypto.test.ts) on random
 * packets of every size class the device seals (empty keepalives, padding, full MTU,
 * the largest datagram), plus tampering, wrong counters and key release.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadWasmAead, wasmTransportCipher, WASM_AEAD_MAX_MESSAGE } from '../../src/platform/node/wasm-aead';
import { assertMatchesReferenceCiphers } from '../helpers/transport-ciphers';

test('the wasm module loads', async () => {
  assert.equal(await loadWasmAead(), true);
});

test('byte-identical with noble and node:crypto for every size class, counters up to 2^53', async () => {
  await loadWasmAead();
  assertMatchesReferenceCiphers(wasmTransportCipher, WASM_AEAD_MAX_MESSAGE);
});

test('tampered packets, wrong counters, short input and a destroyed key do not open', async () => {
  await loadWasmAead();
  const key = new Uint8Array(randomBytes(32));
  const cipher = wasmTransportCipher(key);
  const sealed = new Uint8Array(100 + 16);
  cipher.seal(42, new Uint8Array(randomBytes(100)), 0, sealed, 0);
  assert.ok(cipher.open(42, sealed.slice()));
  assert.equal(cipher.open(43, sealed), undefined, 'wrong counter');
  for (const at of [0, 50, 99, 100, 115]) {
    const bad = sealed.slice();
    bad[at]! ^= 1;
    assert.equal(cipher.open(42, bad), undefined, `bit flip at ${at}`);
  }
  assert.equal(cipher.open(42, sealed.subarray(0, 15)), undefined, 'shorter than a tag');
  assert.equal(cipher.open(42, new Uint8Array(WASM_AEAD_MAX_MESSAGE + 17)), undefined, 'larger than any datagram');
  const other = wasmTransportCipher(new Uint8Array(randomBytes(32)));
  assert.equal(other.open(42, sealed), undefined, 'another key');
  cipher.destroy();
  assert.equal(cipher.open(42, sealed), undefined, 'destroyed');
  assert.throws(() => cipher.seal(1, new Uint8Array(1), 0, new Uint8Array(64), 0), /cannot seal/);
  other.destroy();
});

test('a packet opens in place, over its own ciphertext; one that fails is left as it was', async () => {
  await loadWasmAead();
  const cipher = wasmTransportCipher(new Uint8Array(randomBytes(32)));
  const first = new Uint8Array(randomBytes(64));
  const sealedFirst = new Uint8Array(80);
  cipher.seal(1, first, 0, sealedFirst, 0);
  const sealedSecond = new Uint8Array(80);
  cipher.seal(2, new Uint8Array(randomBytes(64)), 0, sealedSecond, 0);

  const tampered = sealedSecond.slice();
  tampered[70]! ^= 1;
  const before = tampered.slice();
  assert.equal(cipher.open(2, tampered), undefined);
  assert.deepEqual(tampered, before, 'a packet that fails authentication is not touched');

  const openedFirst = cipher.open(1, sealedFirst)!;
  assert.equal(openedFirst.buffer, sealedFirst.buffer, 'no new buffer: a view of the datagram');
  assert.equal(openedFirst.byteOffset, sealedFirst.byteOffset);
  assert.deepEqual(sealedFirst.subarray(0, 64), first);
  // The shared working area is reused by the next call; the opened packet is not in it.
  cipher.open(2, sealedSecond);
  assert.deepEqual(openedFirst, first);
  cipher.destroy();
});
