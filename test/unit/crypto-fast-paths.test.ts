// The faster implementations the core can be given must change nothing but
// speed: OpenSSL's BLAKE2s-256 and HMAC-BLAKE2s (installed with useBlake2sFrom)
// against noble's, on known answers and random inputs, and a whole handshake
// whose two sides hash with different implementations; the X25519 public-key
// shortcut noble takes, and the native provider's key-object cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { blake2sInUse, hash, hmac, kdf1, kdf2, kdf3, useBlake2sFrom } from '../../src/crypto/blake2s';
import { toHex, utf8 } from '../../src/crypto/bytes';
import { nobleCrypto } from '../../src/crypto/noble';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { nativeCrypto, selectCryptoProvider } from '../../src/platform/node/native-crypto';
import {
  Handshake,
  HandshakeState,
  StaticIdentity,
  acceptInitiation,
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSession,
  presharedKeyOrZero,
} from '../../src/protocol/noise';
import { tai64nFromUnixMs } from '../../src/protocol/tai64n';

const random = (length: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(length));

/** Runs `body` with `provider`'s BLAKE2s installed, then puts noble's back (the default). */
function withBlake2sOf<T>(provider: Parameters<typeof useBlake2sFrom>[0], body: () => T): T {
  useBlake2sFrom(provider);
  try {
    return body();
  } finally {
    useBlake2sFrom(nobleCrypto);
  }
}

/** Splits `data` into `count` consecutive parts at random points (parts may be empty). */
function randomSplit(data: Uint8Array, count: number): Uint8Array[] {
  const cuts = Array.from({ length: count - 1 }, () => Math.floor(Math.random() * (data.length + 1))).sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    parts.push(data.subarray(at, cut));
    at = cut;
  }
  return parts;
}

test('the native provider offers BLAKE2s hash and HMAC; noble leaves them to crypto/blake2s', () => {
  assert.equal(typeof nativeCrypto.blake2sHash, 'function');
  assert.equal(typeof nativeCrypto.blake2sHmac, 'function');
  assert.equal(nobleCrypto.blake2sHash, undefined);
  assert.equal(nobleCrypto.blake2sHmac, undefined);
});

test('native blake2sHash: RFC 7693 "abc", the empty string, and noble on random inputs split into parts', () => {
  const native = nativeCrypto.blake2sHash!;
  assert.equal(toHex(native([utf8('abc')])), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  const empty = '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9';
  assert.equal(toHex(native([])), empty);
  assert.equal(toHex(native([new Uint8Array(0), new Uint8Array(0)])), empty);
  assert.equal(blake2sInUse(), 'noble');
  for (let length = 0; length <= 300; length += length < 140 ? 1 : 37) {
    const data = random(length);
    const expected = toHex(hash(data)); // noble: nothing is installed here
    for (const count of [1, 2, 3, 5]) {
      const parts = randomSplit(data, count);
      const out = native(parts);
      assert.equal(toHex(out), expected, `length ${length} in ${count} parts`);
      assert.equal(toHex(hash(...parts)), expected, `noble, length ${length} in ${count} parts`);
    }
  }
});

test('native blake2sHmac equals noble HMAC-BLAKE2s for keys of every size class and split inputs', () => {
  const native = nativeCrypto.blake2sHmac!;
  // HMAC pads keys up to the 64-byte block and hashes longer ones first: both sides of that line.
  for (const keyLength of [0, 1, 16, 31, 32, 33, 63, 64, 65, 100, 200]) {
    for (const dataLength of [0, 1, 32, 33, 55, 64, 65, 150]) {
      const key = random(keyLength);
      const data = random(dataLength);
      const expected = toHex(hmac(key, data)); // noble
      assert.equal(toHex(native(key, [data])), expected, `key ${keyLength}, data ${dataLength}`);
      assert.equal(toHex(native(key, randomSplit(data, 3))), expected, `key ${keyLength}, data ${dataLength}, split`);
    }
  }
  // The KDF's own shape: a 32-byte key and a counter byte appended to the previous output.
  for (let i = 0; i < 200; i++) {
    const key = random(32);
    const previous = random(32);
    const counter = Uint8Array.of(1 + (i % 3));
    assert.equal(toHex(native(key, [previous, counter])), toHex(hmac(key, previous, counter)));
  }
});

test('native digests are plain Uint8Arrays of their own (slice copies, wiping one leaves the next intact)', () => {
  const data = random(40);
  const a = nativeCrypto.blake2sHash!([data]);
  const b = nativeCrypto.blake2sHmac!(random(32), [data]);
  for (const digest of [a, b]) {
    assert.equal(Object.getPrototypeOf(digest), Uint8Array.prototype, 'not a Buffer, whose slice() would share memory');
    assert.equal(digest.length, 32);
    const copy = digest.slice();
    copy.fill(0);
    assert.notDeepEqual(digest, copy);
  }
  const again = nativeCrypto.blake2sHash!([data]);
  a.fill(0);
  assert.equal(toHex(nativeCrypto.blake2sHash!([data])), toHex(again));
});

test('useBlake2sFrom: hash, hmac and KDF1..3 give the same bytes with native and noble installed', () => {
  const cases = Array.from({ length: 50 }, (_, i) => ({ key: random(32), input: random([0, 1, 32, 100][i % 4]!) }));
  const run = () =>
    cases.map(({ key, input }) => [
      toHex(hash(key, input)),
      toHex(hmac(key, input)),
      toHex(kdf1(key, input)),
      ...kdf2(key, input).map(toHex),
      ...kdf3(key, input).map(toHex),
    ]);
  const noble = run();
  const native = withBlake2sOf(nativeCrypto, () => {
    assert.equal(blake2sInUse(), 'native');
    return run();
  });
  assert.equal(blake2sInUse(), 'noble');
  assert.deepEqual(native, noble);
  // And against OpenSSL's HKDF directly, so the comparison is not only implementation against itself.
  for (const { key, input } of cases.slice(0, 10)) {
    const okm = toHex(new Uint8Array(nodeCrypto.hkdfSync('blake2s256', input, key, new Uint8Array(0), 96)));
    withBlake2sOf(nativeCrypto, () => assert.equal(kdf3(key, input).map(toHex).join(''), okm));
  }
});

test('selectCryptoProvider installs the BLAKE2s of the provider it picks', () => {
  try {
    assert.equal(selectCryptoProvider(undefined), nativeCrypto);
    assert.equal(blake2sInUse(), 'native');
    assert.equal(selectCryptoProvider('noble'), nobleCrypto);
    assert.equal(blake2sInUse(), 'noble');
  } finally {
    useBlake2sFrom(nobleCrypto);
  }
});

test('a handshake whose initiator hashes with noble and responder with OpenSSL completes with equal session keys', () => {
  for (const psk of [undefined, random(32)]) {
    const initiator = new StaticIdentity(nobleCrypto, nobleCrypto.generatePrivateKey());
    const responder = new StaticIdentity(nativeCrypto, nativeCrypto.generatePrivateKey());
    const responderSeen = {
      remoteStatic: initiator.publicKey,
      presharedKey: presharedKeyOrZero(psk),
      staticStatic: responder.staticStatic(initiator.publicKey),
    };
    const initiatorSeen = {
      remoteStatic: responder.publicKey,
      presharedKey: presharedKeyOrZero(psk),
      staticStatic: initiator.staticStatic(responder.publicKey),
    };
    const ihs = new Handshake();
    const rhs = new Handshake();

    const initiation = createInitiation(initiator, initiatorSeen, ihs, 1, tai64nFromUnixMs(Date.now()))!;
    const response = withBlake2sOf(nativeCrypto, () => {
      const consumed = consumeInitiation(responder, initiation, (key) =>
        toHex(key) === toHex(initiator.publicKey) ? responderSeen : undefined,
      );
      assert.ok(consumed, 'responder (OpenSSL hashes) consumes the noble-hashed initiation');
      acceptInitiation(rhs, consumed, 0);
      return createResponse(responder, responderSeen, rhs, 2)!;
    });
    assert.ok(consumeResponse(initiator, initiatorSeen, ihs, response), 'initiator (noble hashes) consumes the response');
    assert.equal(ihs.state, HandshakeState.ConsumedResponse);
    const initiatorKeys = deriveSession(ihs)!;
    const responderKeys = withBlake2sOf(nativeCrypto, () => deriveSession(rhs)!);
    assert.equal(toHex(initiatorKeys.sendKey), toHex(responderKeys.receiveKey));
    assert.equal(toHex(initiatorKeys.receiveKey), toHex(responderKeys.sendKey));
  }
});

test("noble's X25519 public key (Edwards base-point tables) equals the Montgomery ladder on u = 9 and OpenSSL", () => {
  // nobleCrypto.x25519PublicKey relies on @noble/curves computing [k]B on the
  // Edwards curve and mapping it to u (much cheaper than a ladder): check it is the same function.
  const basePoint = new Uint8Array(32);
  basePoint[0] = 9;
  for (let i = 0; i < 200; i++) {
    const privateKey = i % 2 === 0 ? nobleCrypto.generatePrivateKey() : random(32); // clamped and raw scalars
    const fromTables = toHex(nobleCrypto.x25519PublicKey(privateKey));
    assert.equal(fromTables, toHex(nobleX25519.getSharedSecret(privateKey, basePoint)), `key ${i}: ladder`);
    assert.equal(fromTables, toHex(nativeCrypto.x25519PublicKey(privateKey)), `key ${i}: OpenSSL`);
  }
});

test('native X25519 re-imports a public key whose array changed since its last use (the key cache checks bytes)', () => {
  const privateKey = nativeCrypto.generatePrivateKey();
  const first = nobleCrypto.x25519PublicKey(nobleCrypto.generatePrivateKey());
  const second = nobleCrypto.x25519PublicKey(nobleCrypto.generatePrivateKey());
  const reused = first.slice();
  assert.equal(toHex(nativeCrypto.x25519(privateKey, reused)!), toHex(nobleCrypto.x25519(privateKey, first)!));
  assert.equal(toHex(nativeCrypto.x25519(privateKey, reused)!), toHex(nobleCrypto.x25519(privateKey, first)!), 'cached');
  reused.set(second);
  assert.equal(toHex(nativeCrypto.x25519(privateKey, reused)!), toHex(nobleCrypto.x25519(privateKey, second)!), 'same array, new key');
  reused.fill(0); // as a finished handshake wipes the remote ephemeral
  assert.equal(nativeCrypto.x25519(privateKey, reused), undefined, 'wiped: the all-zero point, not the cached key');
});
