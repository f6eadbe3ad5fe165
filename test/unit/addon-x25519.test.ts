/**
 * X25519 in wgts-tun.node (x25519-addon.c, addon-x25519.ts: node's own OpenSSL with
 * raw keys), built here from the sources as `make build` builds it: RFC 7748's test
 * vectors, agreement with noble and node:crypto on random keys, low-order points
 * refused, the prepared-key cache following the bytes (not the array), bad arguments,
 * and the native provider taking it. Without node's headers these are skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nobleCrypto } from '../../src/crypto/noble';
import { loadTunAddon } from '../../src/platform/node/addon-tun';
import {
  addonX25519,
  addonX25519PublicKey,
  addonX25519Ready,
  addonX25519Static,
  loadAddonX25519,
} from '../../src/platform/node/addon-x25519';
import { nativeCrypto, selectCryptoProvider } from '../../src/platform/node/native-crypto';
import { compileTunBackend, nodeInclude } from '../helpers/tun-backends';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-x25519-test-'));
const skip = fs.existsSync(path.join(nodeInclude(), 'node_api.h')) ? false : `no node_api.h in ${nodeInclude()}`;
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const key = () => nobleCrypto.generatePrivateKey();

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the native provider takes the module\'s X25519 when the module is there', { skip }, () => {
  const module = compileTunBackend('addon', dir);
  loadTunAddon(module);
  process.env.WGTS_TUN_ADDON = module; // where findAddon looks first
  try {
    assert.equal(addonX25519Ready(), false);
    assert.equal(selectCryptoProvider(undefined), nativeCrypto);
    assert.equal(addonX25519Ready(), true, 'selectCryptoProvider loaded it');
    assert.equal(loadAddonX25519(), undefined);
  } finally {
    delete process.env.WGTS_TUN_ADDON;
  }
});

test('RFC 7748 section 6.1 vectors', { skip }, () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const alicePublic = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  assert.deepEqual(addonX25519PublicKey(alice), alicePublic);
  assert.deepEqual(addonX25519PublicKey(bob), bobPublic);
  assert.deepEqual(addonX25519(alice, bobPublic), shared);
  assert.deepEqual(addonX25519(bob, alicePublic), shared);
});

test('agrees with noble and node:crypto on random keys, through the provider too', { skip }, () => {
  for (let i = 0; i < 50; i++) {
    const [a, b] = [key(), key()];
    const publicB = nobleCrypto.x25519PublicKey(b);
    assert.deepEqual(nativeCrypto.x25519PublicKey(a), nobleCrypto.x25519PublicKey(a));
    const expected = nobleCrypto.x25519(a, publicB)!;
    assert.deepEqual(nativeCrypto.x25519(a, publicB), expected);
    assert.deepEqual(addonX25519(b, nobleCrypto.x25519PublicKey(a)), expected);
  }
  // generatePrivateKey's keys, clamped as wg genkey's, work like any other.
  const fresh = nativeCrypto.generatePrivateKey();
  assert.equal(fresh[0]! & 7, 0);
  assert.equal(fresh[31]! & 0xc0, 0x40);
  assert.deepEqual(nativeCrypto.x25519PublicKey(fresh), nobleCrypto.x25519PublicKey(fresh));
});

test('low-order public keys give no shared secret', { skip }, () => {
  const lowOrder = [
    new Uint8Array(32), // 0
    hex('0100000000000000000000000000000000000000000000000000000000000000'), // 1
    hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'), // order 8
  ];
  const mine = key();
  for (const point of lowOrder) {
    assert.equal(addonX25519(mine, point), undefined);
    assert.equal(nobleCrypto.x25519(mine, point), undefined, 'as the noble provider');
  }
});

test('prepared keys follow the bytes: a static key, changing ephemerals, an array rewritten in place', { skip }, () => {
  const fixed = key();
  addonX25519Static(fixed);
  const peer = nobleCrypto.x25519PublicKey(key());
  const scratch = key();
  for (let i = 0; i < 5; i++) {
    const ephemeral = key();
    assert.deepEqual(addonX25519(ephemeral, peer), nobleCrypto.x25519(ephemeral, peer));
    assert.deepEqual(addonX25519(fixed, peer), nobleCrypto.x25519(fixed, peer), 'the static key between ephemerals');
    scratch.set(key()); // same array, new key: must not be mistaken for the prepared one
    assert.deepEqual(addonX25519(scratch, peer), nobleCrypto.x25519(scratch, peer));
  }
  addonX25519Static(undefined);
  assert.deepEqual(addonX25519(fixed, peer), nobleCrypto.x25519(fixed, peer), 'a forgotten static key still works');
  addonX25519Static(fixed);
  const replaced = key();
  addonX25519Static(replaced);
  assert.deepEqual(addonX25519(fixed, peer), nobleCrypto.x25519(fixed, peer), 'the old static key after a new one');
  assert.deepEqual(addonX25519(replaced, peer), nobleCrypto.x25519(replaced, peer));
});

test('bad arguments throw a TypeError', { skip }, () => {
  assert.throws(() => addonX25519(new Uint8Array(31), new Uint8Array(32)), TypeError);
  assert.throws(() => addonX25519(key(), new Uint8Array(33)), TypeError);
  assert.throws(() => addonX25519PublicKey(new Uint8Array(randomBytes(16))), TypeError);
});
