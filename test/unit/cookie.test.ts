// mac1/mac2 and cookie replies (whitepaper §5.4.4, §5.4.7) between a
// CookieGenerator (initiator side) and a CookieChecker (responder side), driven
// by a fake time. Where python3 is installed, mac1, the cookie reply and mac2
// are also recomputed independently (OpenSSL BLAKE2s for HASH, CPython hashlib
// for the keyed MAC, noble's XChaCha20-Poly1305 for the reply).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { isAllZero, toHex } from '../../src/crypto/bytes';
import { nobleCrypto } from '../../src/crypto/noble';
import type { CryptoProvider } from '../../src/crypto/provider';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { COOKIE_SECRET_LATENCY, COOKIE_SECRET_MAX_AGE } from '../../src/protocol/constants';
import { CookieChecker, CookieGenerator, MacCheck, cookieKey, mac1Key } from '../../src/protocol/cookie';
import {
  COOKIE_REPLY_LENGTH,
  CookieReply,
  HANDSHAKE_INITIATION_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  Initiation,
  MessageType,
  Response,
  classifyMessage,
  readU32,
  writeHeader,
  writeU32,
} from '../../src/protocol/messages';

const random = (length: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(length));

/** A handshake-shaped message: header, sender index, random body, macs zero. */
function message(length = HANDSHAKE_INITIATION_LENGTH, sender = 0x01020304): Uint8Array {
  const msg = random(length);
  writeHeader(msg, length === HANDSHAKE_INITIATION_LENGTH ? MessageType.HandshakeInitiation : MessageType.HandshakeResponse);
  writeU32(msg, 4, sender);
  msg.fill(0, length - 32);
  return msg;
}

const SOURCE = Uint8Array.of(192, 0, 2, 1, 0xca, 0x6c); // 192.0.2.1:51820
const OTHER_IP = Uint8Array.of(192, 0, 2, 2, 0xca, 0x6c);
const OTHER_PORT = Uint8Array.of(192, 0, 2, 1, 0xca, 0x6d);

function setup(crypto: CryptoProvider = nobleCrypto, now = 0) {
  const responderPublic = crypto.x25519PublicKey(crypto.generatePrivateKey());
  return {
    responderPublic,
    checker: new CookieChecker(crypto, responderPublic, now),
    generator: new CookieGenerator(crypto, responderPublic),
  };
}

const mac1Of = (msg: Uint8Array) => msg.subarray(msg.length - 32, msg.length - 16);
const mac2Of = (msg: Uint8Array) => msg.subarray(msg.length - 16);

const blake2s = (...parts: Uint8Array[]): Uint8Array => {
  const h = nodeCrypto.createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** Keyed BLAKE2s-128 from CPython; undefined when python3 is missing. */
function pythonMac(key: Uint8Array, data: Uint8Array): string | undefined {
  const run = spawnSync(
    'python3',
    ['-c', 'import sys, hashlib; k, d = sys.stdin.read().split(); print(hashlib.blake2s(bytes.fromhex(d), key=bytes.fromhex(k), digest_size=16).hexdigest())'],
    { input: `${toHex(key)} ${toHex(data)}`, encoding: 'utf8' },
  );
  if (run.error) return undefined;
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test('mac1 and cookie keys are HASH(label || public key) (whitepaper §5.4.4)', () => {
  const pub = random(32);
  assert.equal(toHex(mac1Key(pub)), toHex(blake2s(new TextEncoder().encode('mac1----'), pub)));
  assert.equal(toHex(cookieKey(pub)), toHex(blake2s(new TextEncoder().encode('cookie--'), pub)));
});

test('addMacs stamps a mac1 the checker accepts; without a cookie mac2 is zero (ValidMac1Only)', (t) => {
  for (const crypto of [nobleCrypto, nativeCrypto]) {
    const { checker, generator, responderPublic } = setup(crypto);
    for (const length of [HANDSHAKE_INITIATION_LENGTH, HANDSHAKE_RESPONSE_LENGTH]) {
      const msg = message(length);
      msg.fill(0xff, length - 16); // stale garbage in mac2 must be cleared
      const body = msg.slice(0, length - 32);
      generator.addMacs(msg, 0);
      assert.deepEqual(msg.subarray(0, length - 32), body, 'the body is untouched');
      assert.ok(!isAllZero(mac1Of(msg)));
      assert.ok(isAllZero(mac2Of(msg)), 'mac2 zero without a cookie');
      assert.equal(checker.check(msg, SOURCE, 0), MacCheck.ValidMac1Only, `${crypto.name} ${length}`);

      const expected = pythonMac(blake2s(new TextEncoder().encode('mac1----'), responderPublic), msg.subarray(0, length - 32));
      if (expected === undefined) t.diagnostic('python3 missing: mac1 not recomputed independently');
      else assert.equal(toHex(mac1Of(msg)), expected, 'mac1 = MAC(HASH("mac1----" || Spub_r), msg[0:mac1])');
    }
  }
  const offsets = [Initiation.mac1, Response.mac1];
  assert.deepEqual(offsets, [HANDSHAKE_INITIATION_LENGTH - 32, HANDSHAKE_RESPONSE_LENGTH - 32]);
});

test('the checker refuses a wrong mac1: altered body, altered mac1, or made for another responder', () => {
  const { checker, generator } = setup();
  const msg = message();
  generator.addMacs(msg, 0);
  for (const at of [0, 4, 8, 60, Initiation.mac1 - 1, Initiation.mac1, Initiation.mac2 - 1]) {
    const tampered = msg.slice();
    tampered[at]! ^= 1;
    assert.equal(checker.check(tampered, SOURCE, 0), MacCheck.Invalid, `byte ${at}`);
  }
  const other = setup();
  const foreign = message();
  other.generator.addMacs(foreign, 0);
  assert.equal(checker.check(foreign, SOURCE, 0), MacCheck.Invalid);
  // mac2 garbage does not invalidate a good mac1 (the responder only needs mac2 when under load).
  const garbage = msg.slice();
  garbage.set(random(16), Initiation.mac2);
  assert.equal(checker.check(garbage, SOURCE, 0), MacCheck.ValidMac1Only);
});

test('a cookie reply is consumed by the generator; the next message carries a mac2 valid for that source only', (t) => {
  for (const crypto of [nobleCrypto, nativeCrypto]) {
    const { checker, generator, responderPublic } = setup(crypto, 1000);
    const first = message(HANDSHAKE_INITIATION_LENGTH, 0xdeadbeef);
    generator.addMacs(first, 1000);
    assert.equal(checker.check(first, SOURCE, 1000), MacCheck.ValidMac1Only);

    const reply = checker.createReply(first, 0xdeadbeef, SOURCE, 1000);
    assert.equal(reply.length, COOKIE_REPLY_LENGTH);
    assert.deepEqual(Array.from(reply.subarray(0, 4)), [MessageType.CookieReply, 0, 0, 0]);
    assert.equal(readU32(reply, CookieReply.receiver), 0xdeadbeef);
    assert.equal(classifyMessage(reply), MessageType.CookieReply);
    assert.equal(generator.consumeReply(reply, 1001), true, crypto.name);

    const second = message();
    generator.addMacs(second, 1002);
    assert.ok(!isAllZero(mac2Of(second)), 'mac2 present');
    assert.equal(checker.check(second, SOURCE, 1002), MacCheck.ValidMac1AndMac2, `${crypto.name}: same source`);
    assert.equal(checker.check(second, OTHER_IP, 1002), MacCheck.ValidMac1Only, `${crypto.name}: other address`);
    assert.equal(checker.check(second, OTHER_PORT, 1002), MacCheck.ValidMac1Only, `${crypto.name}: other port`);
    const tampered = second.slice();
    tampered[Initiation.mac2 + 3]! ^= 1;
    assert.equal(checker.check(tampered, SOURCE, 1002), MacCheck.ValidMac1Only, 'tampered mac2');

    // Independently: the reply decrypts (XChaCha20-Poly1305, key HASH("cookie--" || Spub_r),
    // AAD = mac1 of the message it answers) to the cookie that keys mac2.
    const cookie = xchacha20poly1305(
      blake2s(new TextEncoder().encode('cookie--'), responderPublic),
      reply.subarray(CookieReply.nonce, CookieReply.cookie),
      mac1Of(first),
    ).decrypt(reply.subarray(CookieReply.cookie));
    assert.equal(cookie.length, 16);
    const expected = pythonMac(cookie, second.subarray(0, Initiation.mac2));
    if (expected === undefined) t.diagnostic('python3 missing: mac2 not recomputed independently');
    else assert.equal(toHex(mac2Of(second)), expected, 'mac2 = MAC(cookie, msg[0:mac2])');
  }
});

test('cookie replies carry fresh random nonces', () => {
  const { checker, generator } = setup();
  const msg = message();
  generator.addMacs(msg, 0);
  const a = checker.createReply(msg, 1, SOURCE, 0);
  const b = checker.createReply(msg, 1, SOURCE, 0);
  assert.notEqual(toHex(a.subarray(CookieReply.nonce, CookieReply.cookie)), toHex(b.subarray(CookieReply.nonce, CookieReply.cookie)));
});

test('a reply for an older mac1 (wrong AAD) is rejected; the one for the latest message is taken once', () => {
  const { checker, generator } = setup();
  const older = message();
  generator.addMacs(older, 0);
  const newer = message();
  generator.addMacs(newer, 10);
  const staleReply = checker.createReply(older, 1, SOURCE, 10);
  assert.equal(generator.consumeReply(staleReply, 11), false);
  const probe = message();
  generator.addMacs(probe, 12);
  assert.ok(isAllZero(mac2Of(probe)), 'no cookie was installed');

  // `probe` is now the latest message; answer it.
  const reply = checker.createReply(probe, 1, SOURCE, 12);
  assert.equal(generator.consumeReply(reply, 13), true);
  assert.equal(generator.consumeReply(reply, 14), false, 'a second reply to the same mac1 is ignored');
});

test('a tampered reply, or a reply before any message was sent, is rejected', () => {
  const { checker, generator } = setup();
  const msg = message();
  const other = setup();
  other.generator.addMacs(msg, 0);
  const reply = other.checker.createReply(msg, 1, SOURCE, 0);
  assert.equal(new CookieGenerator(nobleCrypto, other.responderPublic).consumeReply(reply, 0), false, 'nothing sent yet');

  generator.addMacs(msg, 0);
  assert.equal(generator.consumeReply(reply, 0), false, 'reply from another responder (other cookie key)');
  const good = checker.createReply(msg, 1, SOURCE, 0);
  for (const at of [CookieReply.nonce, CookieReply.nonce + 23, CookieReply.cookie, CookieReply.cookie + 15, COOKIE_REPLY_LENGTH - 1]) {
    const tampered = good.slice();
    tampered[at]! ^= 0x20;
    assert.equal(generator.consumeReply(tampered, 0), false, `byte ${at}`);
  }
  assert.equal(generator.consumeReply(good, 0), true, 'the untampered reply still works');
});

test('the cookie is used for COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY, then mac2 is zero again', () => {
  const { checker, generator } = setup(nobleCrypto, 0);
  const msg = message();
  generator.addMacs(msg, 0);
  const received = 50_000;
  assert.ok(generator.consumeReply(checker.createReply(msg, 1, SOURCE, received), received));
  const lifetime = COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY;
  assert.equal(lifetime, 115_000);

  const lastUse = message();
  generator.addMacs(lastUse, received + lifetime - 1);
  assert.ok(!isAllZero(mac2Of(lastUse)), 'still fresh 1 ms before expiry');
  // The checker's secret (born at 0) is still the one that made the cookie until 120 s.
  assert.equal(checker.check(lastUse, SOURCE, COOKIE_SECRET_MAX_AGE - 1), MacCheck.ValidMac1AndMac2);

  const expired = message();
  expired.fill(0xff, Initiation.mac2);
  generator.addMacs(expired, received + lifetime);
  assert.ok(isAllZero(mac2Of(expired)), 'expired at exactly MAX_AGE - LATENCY');
  const later = message();
  generator.addMacs(later, received + 10 * lifetime);
  assert.ok(isAllZero(mac2Of(later)));
});

test("the checker's secret rotates after COOKIE_SECRET_MAX_AGE: an old cookie stops validating, a new one works", () => {
  const { checker, generator } = setup(nobleCrypto, 0);
  const msg = message();
  generator.addMacs(msg, 100_000);
  assert.ok(generator.consumeReply(checker.createReply(msg, 1, SOURCE, 100_000), 100_000));

  const stamped = message();
  generator.addMacs(stamped, COOKIE_SECRET_MAX_AGE - 1);
  assert.ok(!isAllZero(mac2Of(stamped)), 'the generator still considers its 20 s old cookie fresh');
  assert.equal(checker.check(stamped, SOURCE, COOKIE_SECRET_MAX_AGE - 1), MacCheck.ValidMac1AndMac2, 'before rotation');
  assert.equal(checker.check(stamped, SOURCE, COOKIE_SECRET_MAX_AGE), MacCheck.ValidMac1Only, 'after rotation');
  assert.equal(checker.check(stamped, SOURCE, COOKIE_SECRET_MAX_AGE - 1), MacCheck.ValidMac1Only, 'the old secret is gone');

  // A reply made with the new secret gives a cookie that validates again.
  const retry = message();
  generator.addMacs(retry, COOKIE_SECRET_MAX_AGE + 10);
  assert.ok(generator.consumeReply(checker.createReply(retry, 1, SOURCE, COOKIE_SECRET_MAX_AGE + 10), COOKIE_SECRET_MAX_AGE + 10));
  const fresh = message();
  generator.addMacs(fresh, COOKIE_SECRET_MAX_AGE + 20);
  assert.equal(checker.check(fresh, SOURCE, COOKIE_SECRET_MAX_AGE + 20), MacCheck.ValidMac1AndMac2);
  // It keeps validating until the new secret (born at MAX_AGE) is itself MAX_AGE old.
  assert.equal(checker.check(fresh, SOURCE, 2 * COOKIE_SECRET_MAX_AGE - 1), MacCheck.ValidMac1AndMac2);
  assert.equal(checker.check(fresh, SOURCE, 2 * COOKIE_SECRET_MAX_AGE), MacCheck.ValidMac1Only);
});

test('a cookie from one responder does not make mac2 valid at another', () => {
  const a = setup();
  const b = new CookieChecker(nobleCrypto, a.responderPublic, 0); // same public key, different secret
  const msg = message();
  a.generator.addMacs(msg, 0);
  assert.ok(a.generator.consumeReply(a.checker.createReply(msg, 1, SOURCE, 0), 0));
  const next = message();
  a.generator.addMacs(next, 1);
  assert.equal(a.checker.check(next, SOURCE, 1), MacCheck.ValidMac1AndMac2);
  assert.equal(b.check(next, SOURCE, 1), MacCheck.ValidMac1Only);
});
