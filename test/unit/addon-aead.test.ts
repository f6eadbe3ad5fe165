/**
 * The transport cipher in wgts-tun.node (aead-addon.c, addon-aead.ts: node's own OpenSSL
 * with kept contexts), built here from the sources as `make build` builds it, byte for
 * byte against noble and node:crypto (both checked against RFC 8439 in crypto.test.ts) on
 * random packets of every size class the device seals, plus tampering (which must leave
 * the packet as it was), wrong counters, bounds and key destruction; and that the crypto
 * provider takes it when the module is there. Also the one-shot AEAD with additional data
 * the handshake uses (aeadSealOnce/aeadOpenOnce), against noble. Without node's headers (a
 * unit-test run without `make system-deps`) these are skipped, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { loadTunAddon } from '../../src/platform/node/addon-tun';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { nobleCrypto } from '../../src/crypto/noble';
import { writeCounterNonce } from '../../src/crypto/provider';
import {
  addonAeadOnceTakes,
  addonAeadOpenOnce,
  addonAeadReady,
  addonAeadSealOnce,
  addonTransportCipher,
  loadAddonAead,
} from '../../src/platform/node/addon-aead';
import { compileTunBackend, nodeInclude } from '../helpers/tun-backends';
import { assertMatchesReferenceCiphers } from '../helpers/transport-ciphers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-aead-test-'));
const skip = fs.existsSync(path.join(nodeInclude(), 'node_api.h')) ? false : `no node_api.h in ${nodeInclude()}`;

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the crypto provider takes the module\'s cipher when the module is there', { skip }, async () => {
  const module = compileTunBackend('addon', dir);
  loadTunAddon(module);
  process.env.WGTS_TUN_ADDON = module; // where findAddon looks first
  try {
    assert.equal(loadAddonAead(), undefined, 'the module AEAD loads and round-trips');
    await nativeCrypto.prepare!();
    assert.equal(addonAeadReady(), true);
    const cipher = nativeCrypto.transportCipher(new Uint8Array(32).fill(1));
    assert.equal(cipher.constructor.name, 'AddonTransportCipher');
    cipher.destroy();
  } finally {
    delete process.env.WGTS_TUN_ADDON;
  }
});

test('byte-identical with noble and node:crypto for every size class, counters up to 2^53', { skip }, () => {
  assert.ok(addonAeadReady());
  assertMatchesReferenceCiphers(addonTransportCipher, 65_536);
});

test('tampered packets and wrong counters do not open and leave the packet as it was; bounds and a destroyed key', { skip }, () => {
  const cipher = addonTransportCipher(new Uint8Array(randomBytes(32)));
  const sealed = new Uint8Array(100 + 16);
  cipher.seal(42, new Uint8Array(randomBytes(100)), 0, sealed, 0);
  const original = sealed.slice();
  assert.equal(cipher.open(43, sealed), undefined, 'wrong counter');
  assert.deepEqual(sealed, original, 'a packet that fails is not overwritten with unauthenticated plaintext');
  for (const at of [0, 50, 99, 100, 115]) {
    const bad = sealed.slice();
    bad[at]! ^= 1;
    const before = bad.slice();
    assert.equal(cipher.open(42, bad), undefined, `bit flip at ${at}`);
    assert.deepEqual(bad, before);
  }
  assert.equal(cipher.open(42, sealed.subarray(0, 15)), undefined, 'shorter than a tag');
  assert.equal(cipher.open(42, new Uint8Array(65_536 + 17)), undefined, 'larger than any datagram');
  assert.throws(() => cipher.seal(1, new Uint8Array(100), 0, new Uint8Array(100 + 15), 0), RangeError, 'out too small');
  assert.throws(() => cipher.seal(1, new Uint8Array(10), 17, new Uint8Array(100), 0), RangeError, 'more padding than a block');
  assert.ok(cipher.open(42, sealed.slice()), 'the right counter still opens');
  cipher.destroy();
  assert.equal(cipher.open(42, sealed), undefined, 'a destroyed key opens nothing');
  assert.throws(() => cipher.seal(1, new Uint8Array(1), 0, new Uint8Array(64), 0), /destroyed/);
});

test('the handshake\'s one-shot AEAD equals noble\'s, with additional data, and refuses what does not verify', { skip }, () => {
  const bytes = (n: number) => new Uint8Array(randomBytes(n));
  for (const length of [0, 1, 12, 16, 32, 63, 64, 65, 200]) {
    for (const aadLength of [0, 32]) {
      const [key, plaintext, aad] = [bytes(32), bytes(length), bytes(aadLength)];
      const counter = length === 200 ? 2 ** 53 - 1 : length;
      assert.ok(addonAeadOnceTakes(aad, plaintext));
      const expected = chacha20poly1305(key, writeCounterNonce(new Uint8Array(12), counter), aad).encrypt(plaintext);
      const sealed = addonAeadSealOnce(key, counter, plaintext, aad);
      assert.deepEqual(sealed, expected, `${length} bytes, ${aadLength} of additional data`);
      assert.deepEqual(nativeCrypto.aeadSeal(key, counter, plaintext, aad), expected, 'through the provider');
      assert.deepEqual(addonAeadOpenOnce(key, counter, sealed, aad), plaintext);
      assert.deepEqual(nativeCrypto.aeadOpen(key, counter, sealed, aad), plaintext);
      assert.deepEqual(nobleCrypto.aeadOpen(key, counter, sealed, aad), plaintext);
      const forged = sealed.slice();
      forged[forged.length - 1]! ^= 1;
      assert.equal(addonAeadOpenOnce(key, counter, forged, aad), undefined, 'a forged tag');
      assert.equal(addonAeadOpenOnce(key, counter + 1, sealed, aad), undefined, 'another counter');
      if (aadLength > 0) {
        const otherAad = aad.slice();
        otherAad[0]! ^= 1;
        assert.equal(addonAeadOpenOnce(key, counter, sealed, otherAad), undefined, 'other additional data');
      }
    }
  }
  assert.equal(addonAeadOpenOnce(bytes(32), 0, bytes(15), bytes(32)), undefined, 'shorter than a tag');
  // Past the exchange buffer the provider falls back to node:crypto, with the same bytes.
  const [key, big, aad] = [bytes(32), bytes(1000), bytes(32)];
  assert.equal(addonAeadOnceTakes(aad, big), false);
  const sealed = new Uint8Array(nativeCrypto.aeadSeal(key, 7, big, aad)); // node:crypto's is a Buffer
  assert.deepEqual(sealed, chacha20poly1305(key, writeCounterNonce(new Uint8Array(12), 7), aad).encrypt(big));
  assert.deepEqual(new Uint8Array(nativeCrypto.aeadOpen(key, 7, sealed, aad)!), big);
});

test('the module\'s one-shot AEAD refuses arguments that do not fit its buffer', { skip }, () => {
  const module = loadTunAddon(path.join(dir, 'wgts-tun.node')) as unknown as {
    aeadSealOnce(io: Uint8Array, aadLength: number, textLength: number, low: number, high: number): number;
    aeadOpenOnce(io: Uint8Array, aadLength: number, sealedLength: number, low: number, high: number): number;
  };
  const io = new Uint8Array(128);
  assert.equal(module.aeadSealOnce(io, 32, 48, 0, 0), 64, 'key, additional data, text and tag just fit');
  assert.throws(() => module.aeadSealOnce(io, 32, 49, 0, 0), RangeError, 'no room for the tag');
  assert.throws(() => module.aeadOpenOnce(io, 100, 0, 0, 0), RangeError, 'additional data past the buffer');
  assert.throws(() => module.aeadSealOnce(io, 32, 16, 0, 'high' as unknown as number), TypeError, 'a counter that is no number');
  assert.throws(() => (module.aeadOpenOnce as (...args: unknown[]) => number)(io, 32, 16), TypeError, 'too few arguments');
});
