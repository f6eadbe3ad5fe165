// Known-answer tests for the crypto layer. Expected bytes come from the RFCs
// (7693, 7748, 8439, draft-irtf-cfrg-xchacha) or from an independent
// implementation at run time (OpenSSL through node:crypto, CPython's hashlib);
// none are produced by the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { HASH_LENGTH, MAC_LENGTH, hash, hmac, kdf1, kdf2, kdf3, mac } from '../../src/crypto/blake2s';
import { concat, toHex, utf8 } from '../../src/crypto/bytes';
import { clampPrivateKey, nobleCrypto } from '../../src/crypto/noble';
import { AEAD_TAG_LENGTH, writeCounterNonce, type CryptoProvider } from '../../src/crypto/provider';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

const PROVIDERS: readonly CryptoProvider[] = [nobleCrypto, nativeCrypto];

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
const hexOf = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : toHex(bytes));
const random = (length: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(length));

/** The 64-bit little-endian counter nonce built without writeCounterNonce. */
function referenceNonce(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(BigInt(counter), 4);
  return nonce;
}

/** ChaCha20-Poly1305 from OpenSSL, as the independent reference for the providers. */
function opensslSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): string {
  const cipher = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('hex');
}

// --- RFC 8439 §2.8.2 ---------------------------------------------------------
const RFC8439_KEY = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const RFC8439_NONCE = fromHex('070000004041424344454647');
const RFC8439_AAD = fromHex('50515253c0c1c2c3c4c5c6c7');
const SUNSCREEN = utf8(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const RFC8439_CIPHERTEXT =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
  '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
  '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
  '3ff4def08e4b7a9de576d26586cec64b6116';
const RFC8439_TAG = '1ae10b594f09e26a7e902ecbd0600691';

// --- draft-irtf-cfrg-xchacha §A.3.1 ---------------------------------------------
const XCHACHA_NONCE = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657');
const XCHACHA_CIPHERTEXT =
  'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
  '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
  '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
  '21f9664c97637da9768812f615c68b13b52e';
const XCHACHA_TAG = 'c0875924c1c7987947deafd8780acf49';

// --- RFC 7748 ---------------------------------------------------------------------
const ALICE_PRIVATE = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_PRIVATE = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const ALICE_BOB_SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

/** §5.2: unclamped scalars; the second u-coordinate has its top bit set, which X25519 must ignore. */
const RFC7748_SCALAR_MULT = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
] as const;

/**
 * u-coordinates of small order (and their non-canonical encodings, with the top
 * bit set or ≥ p): X25519 with any clamped scalar gives all zeros for these. The
 * list is the one libsodium and the kernel's curve25519 tests use; CPython's
 * `cryptography` refuses every one of them as well.
 */
const LOW_ORDER_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
] as const;

/** Runs a python3 snippet with JSON on stdin; undefined when python3 is not installed. */
function python(script: string, input: unknown): unknown {
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' });
  if (run.error) return undefined;
  assert.equal(run.status, 0, `python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

// ---------------------------------------------------------------------------------
// BLAKE2s
// ---------------------------------------------------------------------------------

test('HASH is BLAKE2s-256: RFC 7693 Appendix B ("abc") and the empty string', () => {
  assert.equal(toHex(hash(utf8('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  // blake2s-kat.txt, unkeyed, in = (empty)
  assert.equal(toHex(hash(new Uint8Array(0))), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
  assert.equal(toHex(hash()), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9');
  assert.equal(hash(utf8('abc')).length, HASH_LENGTH);
});

test('HASH(a, b, ...) hashes the concatenation and agrees with OpenSSL at block boundaries', () => {
  for (const length of [0, 1, 3, 63, 64, 65, 127, 128, 129, 1000]) {
    const data = random(length);
    const expected = nodeCrypto.createHash('blake2s256').update(data).digest('hex');
    assert.equal(toHex(hash(data)), expected, `length ${length}`);
    const cut = Math.floor(length / 3);
    assert.equal(toHex(hash(data.subarray(0, cut), data.subarray(cut, 2 * cut), data.subarray(2 * cut))), expected);
  }
});

test('MAC is keyed BLAKE2s with a 16-byte digest (checked against CPython hashlib)', (t) => {
  const cases: { key: string; data: string }[] = [];
  // Key lengths 1..32 and data lengths around the 64-byte block (a keyed hash
  // prepends one block for the key, so the empty input is a separate case).
  for (const keyLength of [1, 16, 31, 32]) {
    for (const dataLength of [0, 1, 55, 63, 64, 65, 116, 132, 200]) {
      cases.push({ key: toHex(random(keyLength)), data: toHex(random(dataLength)) });
    }
  }
  const expected = python(
    'import sys, json, hashlib\n' +
      'cases = json.load(sys.stdin)\n' +
      'print(json.dumps([hashlib.blake2s(bytes.fromhex(c["data"]), key=bytes.fromhex(c["key"]), digest_size=16).hexdigest() for c in cases]))',
    cases,
  ) as string[] | undefined;
  if (!expected) {
    t.skip('python3 is not installed');
    return;
  }
  assert.equal(expected.length, cases.length);
  cases.forEach((c, i) => {
    const out = mac(fromHex(c.key), fromHex(c.data));
    assert.equal(out.length, MAC_LENGTH);
    assert.equal(toHex(out), expected[i], `key ${c.key.length / 2} bytes, data ${c.data.length / 2} bytes`);
  });
  // Not a truncated BLAKE2s-256: the digest length is part of the parameter block.
  const key = random(32);
  const data = random(40);
  const keyed256 = python(
    'import sys, json, hashlib\nc = json.load(sys.stdin)\n' +
      'print(json.dumps(hashlib.blake2s(bytes.fromhex(c["data"]), key=bytes.fromhex(c["key"])).hexdigest()))',
    { key: toHex(key), data: toHex(data) },
  ) as string;
  assert.notEqual(toHex(mac(key, data)), keyed256.slice(0, 32));
});

test('HMAC is RFC 2104 HMAC over BLAKE2s-256 (checked against OpenSSL)', () => {
  for (const keyLength of [0, 1, 32, 64, 65, 100]) {
    for (const dataLength of [0, 1, 32, 64, 200]) {
      const key = random(keyLength);
      const data = random(dataLength);
      const expected = nodeCrypto.createHmac('blake2s256', key).update(data).digest('hex');
      assert.equal(toHex(hmac(key, data)), expected, `key ${keyLength}, data ${dataLength}`);
      const cut = Math.floor(dataLength / 2);
      assert.equal(toHex(hmac(key, data.subarray(0, cut), data.subarray(cut))), expected, 'split input');
    }
  }
});

test('KDF1..3 are the first 1..3 blocks of HKDF-BLAKE2s (RFC 5869 extract/expand with createHmac, and OpenSSL HKDF)', () => {
  const H = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
    const h = nodeCrypto.createHmac('blake2s256', key);
    for (const part of parts) h.update(part);
    return h.digest();
  };
  for (const inputLength of [0, 1, 32, 100]) {
    const chainingKey = random(32);
    const input = random(inputLength);
    // RFC 5869 §2.2: PRK = HMAC(salt, IKM); §2.3: T(i) = HMAC(PRK, T(i-1) || i), info empty.
    const prk = H(chainingKey, input);
    const t1 = H(prk, Uint8Array.of(1));
    const t2 = H(prk, t1, Uint8Array.of(2));
    const t3 = H(prk, t2, Uint8Array.of(3));
    const okm = Buffer.from(nodeCrypto.hkdfSync('blake2s256', input, chainingKey, new Uint8Array(0), 96));
    assert.equal(okm.toString('hex'), Buffer.concat([t1, t2, t3]).toString('hex'), 'the two references agree');

    assert.equal(toHex(kdf1(chainingKey, input)), t1.toString('hex'));
    assert.deepEqual(kdf2(chainingKey, input).map(toHex), [t1, t2].map((b) => b.toString('hex')));
    assert.deepEqual(kdf3(chainingKey, input).map(toHex), [t1, t2, t3].map((b) => b.toString('hex')));
  }
});

test('KDF does not modify its key or input', () => {
  const key = random(32);
  const input = random(32);
  const keyCopy = key.slice();
  const inputCopy = input.slice();
  kdf3(key, input);
  kdf2(key, input);
  kdf1(key, input);
  assert.deepEqual(key, keyCopy);
  assert.deepEqual(input, inputCopy);
});

// ---------------------------------------------------------------------------------
// ChaCha20-Poly1305
// ---------------------------------------------------------------------------------

test('the references reproduce RFC 8439 §2.8.2 (OpenSSL and noble with the RFC nonce)', () => {
  assert.equal(opensslSeal(RFC8439_KEY, RFC8439_NONCE, SUNSCREEN, RFC8439_AAD), RFC8439_CIPHERTEXT + RFC8439_TAG);
  const noble = chacha20poly1305(RFC8439_KEY, RFC8439_NONCE, RFC8439_AAD).encrypt(SUNSCREEN);
  assert.equal(toHex(noble), RFC8439_CIPHERTEXT + RFC8439_TAG);
});

test('writeCounterNonce: 32 zero bits, then the counter as 64-bit little endian', () => {
  const cases: [number, string][] = [
    [0, '000000000000000000000000'],
    [1, '000000000100000000000000'],
    [0x01020304, '000000000403020100000000'],
    [0xffffffff, '00000000ffffffff00000000'],
    [2 ** 32, '000000000000000001000000'],
    [2 ** 40 + 5, '000000000500000000010000'],
    [2 ** 53 - 1, '00000000ffffffffffff1f00'],
  ];
  for (const [counter, expected] of cases) {
    // Start from garbage: every byte must be written.
    const nonce = new Uint8Array(12).fill(0xaa);
    assert.equal(writeCounterNonce(nonce, counter), nonce, 'returns its argument');
    assert.equal(toHex(nonce), expected, `counter ${counter}`);
    assert.equal(toHex(nonce), referenceNonce(counter).toString('hex'));
  }
});

const COUNTERS = [0, 1, 2, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, 2 ** 53 - 1];

test('aeadSeal/aeadOpen of both providers match OpenSSL with the counter nonce, and open each other', () => {
  const key = random(32);
  for (const counter of COUNTERS) {
    for (const [plainLength, aadLength] of [
      [0, 0],
      [0, 32],
      [32, 32],
      [12, 32],
      [1, 0],
      [1500, 7],
    ] as const) {
      const plaintext = random(plainLength);
      const aad = random(aadLength);
      const expected = opensslSeal(key, referenceNonce(counter), plaintext, aad);
      const sealed = PROVIDERS.map((p) => p.aeadSeal(key, counter, plaintext, aad));
      for (const [i, p] of PROVIDERS.entries()) {
        assert.equal(toHex(sealed[i]!), expected, `${p.name} seal, counter ${counter}, ${plainLength}/${aadLength}`);
        assert.equal(sealed[i]!.length, plainLength + AEAD_TAG_LENGTH);
      }
      for (const opener of PROVIDERS) {
        for (const s of sealed) {
          assert.equal(hexOf(opener.aeadOpen(key, counter, s, aad)), toHex(plaintext), `${opener.name} open`);
        }
      }
    }
  }
});

test('aeadOpen refuses a flipped bit anywhere, the wrong counter, key or AAD, and short input', () => {
  const key = random(32);
  const plaintext = random(40);
  const aad = random(32);
  const counter = 2 ** 32 + 7;
  const sealed = nobleCrypto.aeadSeal(key, counter, plaintext, aad);
  for (const p of PROVIDERS) {
    for (let bit = 0; bit < sealed.length * 8; bit += 5) {
      const tampered = sealed.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(p.aeadOpen(key, counter, tampered, aad), undefined, `${p.name}: bit ${bit}`);
    }
    const badAad = aad.slice();
    badAad[31]! ^= 0x80;
    assert.equal(p.aeadOpen(key, counter, sealed, badAad), undefined, `${p.name}: aad`);
    assert.equal(p.aeadOpen(key, counter + 1, sealed, aad), undefined, `${p.name}: counter + 1`);
    assert.equal(p.aeadOpen(key, counter - 2 ** 32, sealed, aad), undefined, `${p.name}: high word dropped`);
    const otherKey = key.slice();
    otherKey[0]! ^= 1;
    assert.equal(p.aeadOpen(otherKey, counter, sealed, aad), undefined, `${p.name}: key`);
    assert.equal(p.aeadOpen(key, counter, sealed.subarray(0, 15), aad), undefined, `${p.name}: shorter than a tag`);
    assert.equal(p.aeadOpen(key, counter, new Uint8Array(0), aad), undefined, `${p.name}: empty`);
  }
});

test('transportCipher: both providers seal identical bytes (with padding, at an offset) and open each other', () => {
  const key = random(32);
  const ciphers = PROVIDERS.map((p) => p.transportCipher(key));
  for (const counter of COUNTERS) {
    for (const [plainLength, padding] of [
      [0, 0],
      [0, 16],
      [1, 15],
      [100, 12],
      [1420, 0],
    ] as const) {
      const plaintext = random(plainLength);
      const padded = concat(plaintext, new Uint8Array(padding));
      const expected = opensslSeal(key, referenceNonce(counter), padded, new Uint8Array(0));
      const offset = 16;
      const outputs = ciphers.map((c, i) => {
        const out = new Uint8Array(offset + plainLength + padding + AEAD_TAG_LENGTH + 8).fill(0xee);
        const written = c.seal(counter, plaintext, padding, out, offset);
        const name = PROVIDERS[i]!.name;
        assert.equal(written, plainLength + padding + AEAD_TAG_LENGTH, `${name} length`);
        assert.ok(out.subarray(0, offset).every((b) => b === 0xee), `${name} wrote before the offset`);
        assert.ok(out.subarray(offset + written).every((b) => b === 0xee), `${name} wrote past the end`);
        const sealed = out.slice(offset, offset + written);
        assert.equal(toHex(sealed), expected, `${name} seal, counter ${counter}, ${plainLength}+${padding}`);
        // The transport cipher and the handshake AEAD are the same function.
        assert.equal(toHex(PROVIDERS[i]!.aeadSeal(key, counter, padded, new Uint8Array(0))), expected);
        return sealed;
      });
      for (const [i, c] of ciphers.entries()) {
        for (const sealed of outputs) {
          // A copy: a cipher may open in place, and every cipher opens every output.
          assert.equal(hexOf(c.open(counter, sealed.slice())), toHex(padded), `${PROVIDERS[i]!.name} open, counter ${counter}`);
        }
      }
    }
  }
});

test('transportCipher.open refuses tampered ciphertext or tag, the wrong counter, and short input', () => {
  const key = random(32);
  for (const p of PROVIDERS) {
    const c = p.transportCipher(key);
    const plaintext = random(64);
    const out = new Uint8Array(64 + AEAD_TAG_LENGTH);
    c.seal(2 ** 40 + 5, plaintext, 0, out, 0);
    assert.equal(hexOf(c.open(2 ** 40 + 5, out.slice())), toHex(plaintext));
    for (const at of [0, 31, 63, 64, 79]) {
      const tampered = out.slice();
      tampered[at]! ^= 0x40;
      assert.equal(c.open(2 ** 40 + 5, tampered), undefined, `${p.name}: byte ${at} (${at < 64 ? 'ciphertext' : 'tag'})`);
    }
    assert.equal(c.open(2 ** 40 + 4, out), undefined, `${p.name}: wrong counter`);
    assert.equal(c.open(5, out), undefined, `${p.name}: high word dropped`);
    assert.equal(c.open(2 ** 40 + 5, out.subarray(0, 15)), undefined, `${p.name}: shorter than a tag`);
    // A keepalive: empty payload, tag only.
    const keepalive = new Uint8Array(AEAD_TAG_LENGTH);
    assert.equal(c.seal(0, new Uint8Array(0), 0, keepalive, 0), AEAD_TAG_LENGTH);
    assert.equal(c.open(0, keepalive)?.length, 0, `${p.name}: keepalive opens`);
    keepalive[3]! ^= 1;
    assert.equal(c.open(0, keepalive), undefined, `${p.name}: tampered keepalive`);
  }
});

test('transportCipher keeps its own copy of the key', () => {
  for (const p of PROVIDERS) {
    const key = random(32);
    const original = key.slice();
    const c = p.transportCipher(key);
    key.fill(0);
    const out = new Uint8Array(20 + AEAD_TAG_LENGTH);
    c.seal(3, utf8('twenty bytes of text'), 0, out, 0);
    assert.equal(toHex(out), opensslSeal(original, referenceNonce(3), utf8('twenty bytes of text'), new Uint8Array(0)), p.name);
  }
});

// ---------------------------------------------------------------------------------
// XChaCha20-Poly1305
// ---------------------------------------------------------------------------------

test('xaeadSeal reproduces draft-irtf-cfrg-xchacha §A.3.1, and xaeadOpen inverts it', () => {
  for (const p of PROVIDERS) {
    const sealed = p.xaeadSeal(RFC8439_KEY, XCHACHA_NONCE, SUNSCREEN, RFC8439_AAD);
    assert.equal(toHex(sealed), XCHACHA_CIPHERTEXT + XCHACHA_TAG, p.name);
    const expected = fromHex(XCHACHA_CIPHERTEXT + XCHACHA_TAG);
    assert.equal(hexOf(p.xaeadOpen(RFC8439_KEY, XCHACHA_NONCE, expected, RFC8439_AAD)), toHex(SUNSCREEN), p.name);
    for (const at of [0, 50, expected.length - 16, expected.length - 1]) {
      const tampered = expected.slice();
      tampered[at]! ^= 1;
      assert.equal(p.xaeadOpen(RFC8439_KEY, XCHACHA_NONCE, tampered, RFC8439_AAD), undefined, `${p.name}: byte ${at}`);
    }
    const nonce = XCHACHA_NONCE.slice();
    nonce[23]! ^= 1; // the last nonce byte goes to the inner ChaCha20, not HChaCha20
    assert.equal(p.xaeadOpen(RFC8439_KEY, nonce, expected, RFC8439_AAD), undefined, `${p.name}: nonce`);
    assert.equal(p.xaeadOpen(RFC8439_KEY, XCHACHA_NONCE, expected, new Uint8Array(0)), undefined, `${p.name}: aad`);
    assert.equal(p.xaeadOpen(RFC8439_KEY, XCHACHA_NONCE, expected.subarray(0, 10), RFC8439_AAD), undefined, `${p.name}: short`);
  }
});

test('a cookie-sized XAEAD (16-byte cookie, 16-byte mac1 as AAD) round-trips across providers', () => {
  const key = random(32);
  const nonce = random(24);
  const cookie = random(16);
  const aad = random(16);
  const sealed = nobleCrypto.xaeadSeal(key, nonce, cookie, aad);
  assert.equal(sealed.length, 32);
  assert.equal(toHex(nativeCrypto.xaeadSeal(key, nonce, cookie, aad)), toHex(sealed));
  assert.equal(hexOf(nativeCrypto.xaeadOpen(key, nonce, sealed, aad)), toHex(cookie));
});

// ---------------------------------------------------------------------------------
// X25519
// ---------------------------------------------------------------------------------

test('X25519: RFC 7748 §6.1 Alice and Bob through both providers', () => {
  for (const p of PROVIDERS) {
    assert.equal(toHex(p.x25519PublicKey(fromHex(ALICE_PRIVATE))), ALICE_PUBLIC, `${p.name} Alice public`);
    assert.equal(toHex(p.x25519PublicKey(fromHex(BOB_PRIVATE))), BOB_PUBLIC, `${p.name} Bob public`);
    assert.equal(hexOf(p.x25519(fromHex(ALICE_PRIVATE), fromHex(BOB_PUBLIC))), ALICE_BOB_SHARED, `${p.name} Alice`);
    assert.equal(hexOf(p.x25519(fromHex(BOB_PRIVATE), fromHex(ALICE_PUBLIC))), ALICE_BOB_SHARED, `${p.name} Bob`);
  }
});

test('X25519: RFC 7748 §5.2 scalar multiplication (unclamped scalar, top bit of u ignored)', () => {
  for (const p of PROVIDERS) {
    for (const v of RFC7748_SCALAR_MULT) {
      assert.equal(hexOf(p.x25519(fromHex(v.scalar), fromHex(v.u))), v.out, `${p.name} ${v.scalar.slice(0, 8)}`);
    }
  }
});

test('X25519: both providers agree on random keys, and DH is symmetric', () => {
  for (let i = 0; i < 20; i++) {
    const a = nobleCrypto.generatePrivateKey();
    const b = nativeCrypto.generatePrivateKey();
    const aPublic = nobleCrypto.x25519PublicKey(a);
    const bPublic = nativeCrypto.x25519PublicKey(b);
    assert.equal(toHex(nativeCrypto.x25519PublicKey(a)), toHex(aPublic));
    assert.equal(toHex(nobleCrypto.x25519PublicKey(b)), toHex(bPublic));
    const shared = nobleCrypto.x25519(a, bPublic);
    assert.ok(shared);
    assert.equal(hexOf(nativeCrypto.x25519(a, bPublic)), toHex(shared));
    assert.equal(hexOf(nobleCrypto.x25519(b, aPublic)), toHex(shared));
    assert.equal(hexOf(nativeCrypto.x25519(b, aPublic)), toHex(shared));
  }
});

test('X25519 with a low-order public key (all zeros, the point 1, ...) returns undefined in both providers', () => {
  const privateKeys = [fromHex(ALICE_PRIVATE), nobleCrypto.generatePrivateKey(), nativeCrypto.generatePrivateKey()];
  for (const p of PROVIDERS) {
    for (const point of LOW_ORDER_POINTS) {
      for (const privateKey of privateKeys) {
        assert.equal(p.x25519(privateKey, fromHex(point)), undefined, `${p.name}: ${point}`);
      }
    }
  }
});

test('generatePrivateKey clamps as wg genkey does, in both providers; keys differ', () => {
  for (const p of PROVIDERS) {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = p.generatePrivateKey();
      assert.equal(k.length, 32);
      assert.equal(k[0]! & 7, 0, `${p.name}: low three bits cleared`);
      assert.equal(k[31]! & 0x80, 0, `${p.name}: top bit cleared`);
      assert.equal(k[31]! & 0x40, 0x40, `${p.name}: bit 254 set`);
      seen.add(toHex(k));
    }
    assert.equal(seen.size, 200, `${p.name}: keys are random`);
  }
  assert.equal(toHex(clampPrivateKey(new Uint8Array(32).fill(0xff))), 'f8' + 'ff'.repeat(30) + '7f');
  assert.equal(toHex(clampPrivateKey(new Uint8Array(32))), '00'.repeat(31) + '40');
  // A clamped key has the same public key as its unclamped form (X25519 clamps internally).
  const raw = random(32);
  raw[0]! |= 7;
  raw[31]! |= 0x80;
  const unclampedPublic = toHex(nobleCrypto.x25519PublicKey(raw));
  assert.equal(toHex(nobleCrypto.x25519PublicKey(clampPrivateKey(raw.slice()))), unclampedPublic);
});

test('randomBytes returns the requested length, including more than one getRandomValues call', () => {
  for (const p of PROVIDERS) {
    for (const length of [0, 1, 24, 32, 65536, 65537, 200_000]) {
      const bytes = p.randomBytes(length);
      assert.equal(bytes.length, length, `${p.name}: ${length}`);
      assert.ok(bytes instanceof Uint8Array);
    }
    // The tail past the first 64 KiB chunk is filled too.
    const big = p.randomBytes(65536 + 4096);
    assert.ok(big.subarray(65536).some((b) => b !== 0), `${p.name}: tail filled`);
  }
});
