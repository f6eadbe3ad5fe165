/**
 * The transport cipher in wgts-tun.node (aead-addon.c, addon-aead.ts: node's own OpenSSL
 * with kept contexts), built here from the sources as `make build` builds it, byte for
 * byte against noble and node:crypto (both checked against RFC 8439 in crypto.test.ts) on
 * random packets of every size class the device seals, plus tampering (which must leave
 * the packet as it was), wrong counters, bounds and key destruction; and that the crypto
 * provider takes it when the module is there. Without node's headers (a unit-test run
 * without `make system-deps`) these are skipped, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { loadTunAddon } from '../../src/platform/node/addon-tun';
import { addonAeadReady, addonTransportCipher, loadAddonAead } from '../../src/platform/node/addon-aead';
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
