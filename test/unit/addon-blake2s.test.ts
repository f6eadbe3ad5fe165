/**
 * The handshake's BLAKE2s in wgts-tun.node (blake2s-addon.c, addon-blake2s.ts: node's
 * own OpenSSL), built here from the sources as `make build` builds it: RFC 7693's
 * vector, the loader's known answers, HASH, MAC and KDF1..3 equal to noble's
 * (@noble/hashes, the core's own) over many lengths, inputs too long for the exchange
 * buffer handed back, bad arguments refused, worker threads with state of their own, and
 * the native provider installing it in the core (WGTS_BLAKE2S=openssl keeping
 * node:crypto's). Without node's headers
 * these are skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { blake2sInUse, hash, kdf3, mac } from '../../src/crypto/blake2s';
import { loadTunAddon } from '../../src/platform/node/addon-tun';
import {
  type Blake2sAddon,
  addonBlake2sHash,
  addonBlake2sKdf,
  addonBlake2sMac,
  addonBlake2sReady,
  loadAddonBlake2s,
  SELF_TEST_ANSWERS,
  SELF_TEST_INPUT,
  SELF_TEST_KEY,
} from '../../src/platform/node/addon-blake2s';
import { nativeCrypto, selectCryptoProvider } from '../../src/platform/node/native-crypto';
import { compileTunBackend, nodeInclude } from '../helpers/tun-backends';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-blake2s-test-'));
const skip = fs.existsSync(path.join(nodeInclude(), 'node_api.h')) ? false : `no node_api.h in ${nodeInclude()}`;
const bytes = (length: number) => new Uint8Array(randomBytes(length));
let modulePath = '';

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** HKDF over noble's HMAC-BLAKE2s, written out as the whitepaper has it. */
function nobleKdf(key: Uint8Array, input: Uint8Array, count: number): Uint8Array[] {
  const prk = hmac(blake2s, key, input);
  const outputs: Uint8Array[] = [];
  let previous = new Uint8Array(0);
  for (let i = 1; i <= count; i++) {
    previous = hmac(blake2s, prk, Uint8Array.of(...previous, i));
    outputs.push(previous);
  }
  return outputs;
}

test('the native provider installs the module\'s BLAKE2s in the core, unless WGTS_BLAKE2S=openssl', { skip }, () => {
  modulePath = compileTunBackend('addon', dir);
  loadTunAddon(modulePath);
  process.env.WGTS_TUN_ADDON = modulePath; // where findAddon looks first
  try {
    process.env.WGTS_BLAKE2S = 'openssl';
    assert.equal(selectCryptoProvider(undefined), nativeCrypto);
    assert.equal(addonBlake2sReady(), false, 'node:crypto\'s when asked');
    assert.equal(nativeCrypto.blake2sMac, undefined, 'and noble\'s MAC');
    delete process.env.WGTS_BLAKE2S;
    assert.equal(selectCryptoProvider(undefined), nativeCrypto);
    assert.equal(addonBlake2sReady(), true, 'selectCryptoProvider loaded it');
    assert.equal(loadAddonBlake2s(), undefined, 'and loading again is a no-op');
    assert.equal(nativeCrypto.blake2sKdf, addonBlake2sKdf);
    assert.equal(blake2sInUse(), 'native');
    // The core's functions now go through the module, and still equal noble's.
    const [key, input] = [bytes(32), bytes(32)];
    assert.deepEqual(kdf3(key, input), nobleKdf(key, input, 3));
    assert.deepEqual(hash(key, input), blake2s(Uint8Array.of(...key, ...input)));
    assert.deepEqual(mac(key.subarray(0, 16), input), blake2s(input, { key: key.subarray(0, 16), dkLen: 16 }));
  } finally {
    delete process.env.WGTS_TUN_ADDON;
    delete process.env.WGTS_BLAKE2S;
  }
});

test('the known answers the loader checks the module against are noble\'s', () => {
  const hex = (parts: Uint8Array[]) => parts.map((part) => Buffer.from(part).toString('hex')).join('');
  assert.equal(hex([blake2s(new TextEncoder().encode('abc'))]), SELF_TEST_ANSWERS.hashAbc);
  assert.equal(hex([blake2s(SELF_TEST_INPUT, { key: SELF_TEST_KEY.subarray(0, 16), dkLen: 16 })]), SELF_TEST_ANSWERS.mac);
  assert.equal(hex(nobleKdf(SELF_TEST_KEY, SELF_TEST_INPUT, 3)), SELF_TEST_ANSWERS.kdf3);
});

test('RFC 7693 appendix B: BLAKE2s-256("abc")', { skip }, () => {
  const expected = '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982';
  assert.equal(Buffer.from(addonBlake2sHash([new TextEncoder().encode('abc')])).toString('hex'), expected);
  assert.equal(Buffer.from(addonBlake2sHash([Uint8Array.of(97), Uint8Array.of(98, 99)])).toString('hex'), expected, 'in parts');
});

test('HASH equals noble\'s for 0-300 bytes in one to three parts, past the exchange buffer too', { skip }, () => {
  for (let length = 0; length <= 300; length += length < 70 ? 1 : 23) {
    const whole = bytes(length);
    const cut = Math.floor(length / 3);
    const expected = blake2s(whole);
    assert.deepEqual(addonBlake2sHash([whole]), expected, `${length} bytes`);
    assert.deepEqual(addonBlake2sHash([whole.subarray(0, cut), whole.subarray(cut, 2 * cut), whole.subarray(2 * cut)]), expected);
  }
});

test('MAC equals noble\'s keyed BLAKE2s-128 for keys of 1-32 bytes; other keys go to noble', { skip }, () => {
  for (let keyLength = 1; keyLength <= 32; keyLength++) {
    for (const inputLength of [0, 1, 60, 64, 65, 116, 148, 224, 300]) {
      const [key, input] = [bytes(keyLength), bytes(inputLength)];
      assert.deepEqual(addonBlake2sMac(key, input), blake2s(input, { key, dkLen: 16 }), `key ${keyLength}, input ${inputLength}`);
    }
  }
  assert.throws(() => addonBlake2sMac(bytes(33), bytes(10)), 'a 33-byte key is refused, as noble refuses it');
});

test('KDF1..3 equal HKDF over noble\'s HMAC-BLAKE2s; inputs past the exchange buffer are handed back', { skip }, () => {
  for (const [keyLength, inputLength] of [[32, 32], [32, 0], [32, 48], [1, 1], [64, 64], [65, 10], [100, 150]] as const) {
    const [key, input] = [bytes(keyLength), bytes(inputLength)];
    for (const count of [1, 2, 3] as const) {
      const outputs = addonBlake2sKdf(key, input, count)!;
      assert.deepEqual(outputs, nobleKdf(key, input, count), `key ${keyLength}, input ${inputLength}, KDF${count}`);
      outputs[0]!.fill(0);
      if (count > 1) assert.notDeepEqual(outputs[1], new Uint8Array(32), 'each output its own array');
    }
  }
  assert.equal(addonBlake2sKdf(bytes(32), bytes(300), 2), undefined);
});

test('the module refuses bad arguments with an exception', { skip }, () => {
  const module = loadTunAddon(modulePath) as unknown as Blake2sAddon;
  const io = new Uint8Array(96);
  assert.throws(() => module.blake2sHash(new Uint8Array(16), 8), TypeError, 'room for no digest');
  assert.throws(() => module.blake2sHash(io, 97), TypeError, 'past the buffer');
  assert.throws(() => module.blake2sHash([1, 2, 3] as unknown as Uint8Array, 3), TypeError, 'not a Uint8Array');
  assert.throws(() => module.blake2sMac(io, 0, 10), RangeError, 'no key');
  assert.throws(() => module.blake2sMac(io, 33, 10), RangeError, 'a key longer than 32');
  assert.throws(() => module.blake2sMac(io, 32, 65), TypeError, 'key and input past the buffer');
  assert.throws(() => module.blake2sKdf(io, 32, 32, 0), RangeError, 'no outputs');
  assert.throws(() => module.blake2sKdf(io, 32, 32, 4), RangeError, 'four outputs');
  assert.throws(() => module.blake2sKdf(new Uint8Array(64), 32, 32, 1), TypeError, 'room for fewer than three outputs');
  assert.throws(() => (module.blake2sKdf as (...args: unknown[]) => boolean)(io, 32, 32), TypeError, 'too few arguments');
});

test('worker threads hash with state of their own, beside the main thread, and end cleanly', { skip }, async () => {
  // Each thread fetches its own OpenSSL digest and contexts (they must not be shared);
  // here four threads and the main one hash at once, and each checks its results.
  const script = `
    const { parentPort, workerData } = require('node:worker_threads');
    const module = require(workerData.path);
    const io = new Uint8Array(256);
    let digest = new Uint8Array(32);
    for (let i = 0; i < 20000; i++) {
      io.set(digest);
      io[32] = i & 255;
      if (!module.blake2sHash(io, 33)) throw new Error('hash failed');
      digest = io.slice(0, 32);
    }
    parentPort.postMessage(digest);
  `;
  const chain = (): Uint8Array => {
    let digest = new Uint8Array(32);
    for (let i = 0; i < 20000; i++) digest = blake2s(Uint8Array.of(...digest, i & 255));
    return digest;
  };
  const workers = Array.from({ length: 4 }, () => new Worker(script, { eval: true, workerData: { path: modulePath } }));
  const exits = workers.map((worker) => new Promise<number>((resolve) => worker.once('exit', resolve)));
  const results = workers.map(
    (worker) =>
      new Promise<Uint8Array>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  for (let i = 0; i < 2000; i++) assert.deepEqual(addonBlake2sHash([Uint8Array.of(i & 255)]), blake2s(Uint8Array.of(i & 255)));
  const expected = chain();
  for (const digest of await Promise.all(results)) assert.deepEqual(new Uint8Array(digest), expected);
  const codes = await Promise.all(exits);
  assert.deepEqual(codes, [0, 0, 0, 0], 'each thread ends normally, its state freed');
  assert.deepEqual(addonBlake2sHash([Uint8Array.of(1)]), blake2s(Uint8Array.of(1)), 'the main thread\'s state is its own');
});
