// The Noise_IKpsk2 handshake transcript: round trips between two identities,
// rejection of anything that does not authenticate, erasure of the handshake
// state, and a known-answer check of every byte against an independent
// implementation of the whitepaper (§5.4.2–§5.4.5) in Python (hashlib,
// hmac and the `cryptography` package), run only when those are installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { isAllZero, toHex } from '../../src/crypto/bytes';
import { nobleCrypto } from '../../src/crypto/noble';
import type { CryptoProvider } from '../../src/crypto/provider';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import {
  HANDSHAKE_INITIATION_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  Initiation,
  MessageType,
  Response,
  classifyMessage,
  readU32,
} from '../../src/protocol/messages';
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
  type HandshakeRemote,
  type SessionKeys,
} from '../../src/protocol/noise';
import { CookieGenerator } from '../../src/protocol/cookie';

const random = (length: number): Uint8Array => new Uint8Array(nodeCrypto.randomBytes(length));
const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

interface TestPeer extends HandshakeRemote {
  readonly name: string;
}

/** One side of a handshake: its identity, and how it sees the other side. */
interface Side {
  identity: StaticIdentity;
  remote: TestPeer;
  hs: Handshake;
}

function pair(
  options: { psk?: Uint8Array; initiatorCrypto?: CryptoProvider; responderCrypto?: CryptoProvider } = {},
): { initiator: Side; responder: Side } {
  const initiatorCrypto = options.initiatorCrypto ?? nobleCrypto;
  const responderCrypto = options.responderCrypto ?? nobleCrypto;
  const i = new StaticIdentity(initiatorCrypto, initiatorCrypto.generatePrivateKey());
  const r = new StaticIdentity(responderCrypto, responderCrypto.generatePrivateKey());
  const psk = presharedKeyOrZero(options.psk);
  return {
    initiator: {
      identity: i,
      remote: { name: 'responder', remoteStatic: r.publicKey, presharedKey: psk, staticStatic: i.staticStatic(r.publicKey) },
      hs: new Handshake(),
    },
    responder: {
      identity: r,
      remote: { name: 'initiator', remoteStatic: i.publicKey, presharedKey: psk, staticStatic: r.staticStatic(i.publicKey) },
      hs: new Handshake(),
    },
  };
}

/** The responder's peer lookup: only the configured initiator is known. */
function lookup(side: Side): (remoteStatic: Uint8Array) => TestPeer | undefined {
  return (key) => (toHex(key) === toHex(side.remote.remoteStatic) ? side.remote : undefined);
}

const TIMESTAMP = fromHex('400000006553f1000a1b2c00');

/** Runs a full handshake; returns the messages and both sides' session keys. */
function handshake(p: { initiator: Side; responder: Side }, now = 1000) {
  const { initiator, responder } = p;
  const init = createInitiation(initiator.identity, initiator.remote, initiator.hs, 0x11223344, TIMESTAMP);
  assert.ok(init, 'initiation created');
  assert.equal(initiator.hs.state, HandshakeState.CreatedInitiation);
  const consumed = consumeInitiation(responder.identity, init, lookup(responder));
  assert.ok(consumed, 'initiation consumed');
  assert.equal(consumed.peer, responder.remote);
  assert.equal(consumed.senderIndex, 0x11223344);
  assert.equal(toHex(consumed.timestamp), toHex(TIMESTAMP));
  acceptInitiation(responder.hs, consumed, now);
  assert.equal(responder.hs.state, HandshakeState.ConsumedInitiation);
  const resp = createResponse(responder.identity, responder.remote, responder.hs, 0x55667788);
  assert.ok(resp, 'response created');
  assert.equal(responder.hs.state, HandshakeState.CreatedResponse);
  assert.equal(consumeResponse(initiator.identity, initiator.remote, initiator.hs, resp), true, 'response consumed');
  assert.equal(initiator.hs.state, HandshakeState.ConsumedResponse);
  const initiatorKeys = deriveSession(initiator.hs);
  const responderKeys = deriveSession(responder.hs);
  assert.ok(initiatorKeys && responderKeys);
  return { init, resp, initiatorKeys, responderKeys };
}

function assertMatchingSessions(initiatorKeys: SessionKeys, responderKeys: SessionKeys): void {
  assert.equal(initiatorKeys.isInitiator, true);
  assert.equal(responderKeys.isInitiator, false);
  assert.equal(toHex(initiatorKeys.sendKey), toHex(responderKeys.receiveKey), "initiator's send = responder's receive");
  assert.equal(toHex(initiatorKeys.receiveKey), toHex(responderKeys.sendKey), "initiator's receive = responder's send");
  assert.notEqual(toHex(initiatorKeys.sendKey), toHex(initiatorKeys.receiveKey), 'the two directions differ');
  assert.equal(initiatorKeys.sendKey.length, 32);
  assert.equal(initiatorKeys.localIndex, 0x11223344);
  assert.equal(initiatorKeys.remoteIndex, 0x55667788);
  assert.equal(responderKeys.localIndex, 0x55667788);
  assert.equal(responderKeys.remoteIndex, 0x11223344);
}

test('a handshake without PSK derives matching transport keys', () => {
  const { initiatorKeys, responderKeys } = handshake(pair());
  assertMatchingSessions(initiatorKeys, responderKeys);
});

test('a handshake with a PSK derives matching transport keys', () => {
  const psk = random(32);
  const { initiatorKeys, responderKeys } = handshake(pair({ psk }));
  assertMatchingSessions(initiatorKeys, responderKeys);
});

test('mismatched PSKs: the responder still answers, but the initiator rejects the response', () => {
  const p = pair({ psk: random(32) });
  p.responder.remote = { ...p.responder.remote, presharedKey: random(32) };
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP)!;
  const consumed = consumeInitiation(p.responder.identity, init, lookup(p.responder));
  assert.ok(consumed, 'the PSK is not mixed in until the response');
  acceptInitiation(p.responder.hs, consumed, 0);
  const resp = createResponse(p.responder.identity, p.responder.remote, p.responder.hs, 2)!;
  assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, resp), false);
  assert.equal(p.initiator.hs.state, HandshakeState.CreatedInitiation);
});

test('mixing the noble and native providers on the two sides works in both directions', () => {
  for (const [a, b] of [
    [nobleCrypto, nativeCrypto],
    [nativeCrypto, nobleCrypto],
    [nativeCrypto, nativeCrypto],
  ] as const) {
    for (const psk of [undefined, random(32)]) {
      const { initiatorKeys, responderKeys } = handshake(pair({ initiatorCrypto: a, responderCrypto: b, psk }));
      assertMatchingSessions(initiatorKeys, responderKeys);
      // The keys actually work as a transport session across providers.
      const sender = a.transportCipher(initiatorKeys.sendKey);
      const receiver = b.transportCipher(responderKeys.receiveKey);
      const out = new Uint8Array(5 + 16);
      sender.seal(0, Uint8Array.of(1, 2, 3, 4, 5), 0, out, 0);
      assert.deepEqual(Array.from(receiver.open(0, out) ?? []), [1, 2, 3, 4, 5], `${a.name} -> ${b.name}`);
    }
  }
});

test('message lengths are 148 and 92, with type and zero reserved bytes and the indices in place', () => {
  const { init, resp } = handshake(pair());
  assert.equal(init.length, HANDSHAKE_INITIATION_LENGTH);
  assert.equal(init.length, 148);
  assert.deepEqual(Array.from(init.subarray(0, 4)), [MessageType.HandshakeInitiation, 0, 0, 0]);
  assert.equal(readU32(init, Initiation.sender), 0x11223344);
  assert.deepEqual(Array.from(init.subarray(4, 8)), [0x44, 0x33, 0x22, 0x11], 'little endian');
  assert.ok(isAllZero(init.subarray(Initiation.mac1)), 'macs are left to the cookie layer');
  assert.equal(classifyMessage(init), MessageType.HandshakeInitiation);

  assert.equal(resp.length, HANDSHAKE_RESPONSE_LENGTH);
  assert.equal(resp.length, 92);
  assert.deepEqual(Array.from(resp.subarray(0, 4)), [MessageType.HandshakeResponse, 0, 0, 0]);
  assert.equal(readU32(resp, Response.sender), 0x55667788);
  assert.equal(readU32(resp, Response.receiver), 0x11223344);
  assert.ok(isAllZero(resp.subarray(Response.mac1)));
  assert.equal(classifyMessage(resp), MessageType.HandshakeResponse);
});

test('each handshake uses fresh ephemerals: two handshakes give different messages and keys', () => {
  const p = pair();
  const first = handshake(p);
  const second = handshake(p);
  assert.notEqual(toHex(first.init.subarray(Initiation.ephemeral, Initiation.static)), toHex(second.init.subarray(Initiation.ephemeral, Initiation.static)));
  assert.notEqual(toHex(first.initiatorKeys.sendKey), toHex(second.initiatorKeys.sendKey));
  assertMatchingSessions(second.initiatorKeys, second.responderKeys);
});

test('consumeInitiation returns undefined for an unknown static key', () => {
  const p = pair();
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 7, TIMESTAMP)!;
  let asked: string | undefined;
  const result = consumeInitiation(p.responder.identity, init, (key) => {
    asked = toHex(key);
    return undefined;
  });
  assert.equal(result, undefined);
  assert.equal(asked, toHex(p.initiator.identity.publicKey), 'the lookup saw the decrypted initiator key');

  // A stranger (not configured at the responder) who knows the responder's public key.
  const stranger = new StaticIdentity(nobleCrypto, nobleCrypto.generatePrivateKey());
  const strangerRemote: HandshakeRemote = {
    remoteStatic: p.responder.identity.publicKey,
    presharedKey: presharedKeyOrZero(undefined),
    staticStatic: stranger.staticStatic(p.responder.identity.publicKey),
  };
  const strangerInit = createInitiation(stranger, strangerRemote, new Handshake(), 8, TIMESTAMP)!;
  assert.equal(consumeInitiation(p.responder.identity, strangerInit, lookup(p.responder)), undefined);
});

test('consumeInitiation returns undefined for an initiation addressed to another responder', () => {
  const p = pair();
  const other = pair();
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 7, TIMESTAMP)!;
  assert.equal(consumeInitiation(other.responder.identity, init, () => p.responder.remote), undefined);
});

test('consumeInitiation returns undefined for a flipped bit in the ephemeral, encrypted static or encrypted timestamp', () => {
  const p = pair();
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 7, TIMESTAMP)!;
  assert.ok(consumeInitiation(p.responder.identity, init, lookup(p.responder)), 'the untouched message is fine');
  const fields = [
    ['ephemeral', Initiation.ephemeral, Initiation.static],
    ['static', Initiation.static, Initiation.timestamp],
    ['timestamp', Initiation.timestamp, Initiation.mac1],
  ] as const;
  for (const [name, start, end] of fields) {
    for (let byte = start; byte < end; byte++) {
      // Every byte, a different bit each time; both ends of the field's last byte.
      for (const bit of byte === end - 1 ? [0, 7] : [byte % 8]) {
        const tampered = init.slice();
        tampered[byte]! ^= 1 << bit;
        assert.equal(
          consumeInitiation(p.responder.identity, tampered, lookup(p.responder)),
          undefined,
          `${name}: byte ${byte} bit ${bit}`,
        );
      }
    }
  }
});

test('consumeInitiation with a low-order ephemeral returns undefined', () => {
  const p = pair();
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 7, TIMESTAMP)!;
  init.fill(0, Initiation.ephemeral, Initiation.static);
  assert.equal(consumeInitiation(p.responder.identity, init, lookup(p.responder)), undefined);
});

test('createInitiation refuses a peer whose static key is low order (no static-static secret)', () => {
  const p = pair();
  const remote: HandshakeRemote = { ...p.initiator.remote, remoteStatic: new Uint8Array(32), staticStatic: undefined };
  assert.equal(createInitiation(p.initiator.identity, remote, p.initiator.hs, 1, TIMESTAMP), undefined);
  assert.equal(p.initiator.hs.state, HandshakeState.Zeroed);
});

test('consumeResponse rejects a response in the wrong handshake state and leaves the state alone', () => {
  const p = pair();
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP)!;
  acceptInitiation(p.responder.hs, consumeInitiation(p.responder.identity, init, lookup(p.responder))!, 0);
  const resp = createResponse(p.responder.identity, p.responder.remote, p.responder.hs, 2)!;

  // A fresh handshake that never sent an initiation.
  const idle = new Handshake();
  assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, idle, resp), false);
  assert.equal(idle.state, HandshakeState.Zeroed);

  // The responder's own handshake (CreatedResponse) cannot consume a response.
  assert.equal(consumeResponse(p.responder.identity, p.responder.remote, p.responder.hs, resp), false);
  assert.equal(p.responder.hs.state, HandshakeState.CreatedResponse);

  // A tampered response is refused without touching the initiator's handshake.
  const hashBefore = toHex(p.initiator.hs.hash);
  const chainBefore = toHex(p.initiator.hs.chainingKey);
  for (const at of [Response.ephemeral, Response.ephemeral + 31, Response.empty, Response.empty + 15]) {
    const tampered = resp.slice();
    tampered[at]! ^= 0x10;
    assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, tampered), false, `byte ${at}`);
    assert.equal(p.initiator.hs.state, HandshakeState.CreatedInitiation);
    assert.equal(toHex(p.initiator.hs.hash), hashBefore);
    assert.equal(toHex(p.initiator.hs.chainingKey), chainBefore);
  }

  // The genuine one works once; a second copy finds the state ConsumedResponse.
  assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, resp), true);
  assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, resp), false);
  assert.equal(p.initiator.hs.state, HandshakeState.ConsumedResponse);
});

test('a response to an earlier initiation is rejected once a new initiation replaced it', () => {
  const p = pair();
  const first = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP)!;
  acceptInitiation(p.responder.hs, consumeInitiation(p.responder.identity, first, lookup(p.responder))!, 0);
  const staleResponse = createResponse(p.responder.identity, p.responder.remote, p.responder.hs, 2)!;
  // The initiator retransmits (new ephemeral) before the response arrives.
  createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 3, TIMESTAMP);
  assert.equal(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, staleResponse), false);
  assert.equal(p.initiator.hs.state, HandshakeState.CreatedInitiation);
  assert.equal(p.initiator.hs.localIndex, 3);
});

test('createResponse and deriveSession refuse handshakes in the wrong state', () => {
  const p = pair();
  assert.equal(createResponse(p.responder.identity, p.responder.remote, p.responder.hs, 1), undefined, 'Zeroed');
  assert.equal(deriveSession(p.responder.hs), undefined, 'Zeroed');
  createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP);
  assert.equal(createResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1), undefined, 'CreatedInitiation');
  assert.equal(deriveSession(p.initiator.hs), undefined, 'CreatedInitiation');
  assert.equal(p.initiator.hs.state, HandshakeState.CreatedInitiation);
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP)!;
  acceptInitiation(p.responder.hs, consumeInitiation(p.responder.identity, init, lookup(p.responder))!, 0);
  assert.equal(deriveSession(p.responder.hs), undefined, 'ConsumedInitiation');
});

test('deriveSession erases the handshake: state Zeroed, chaining key and hash zero, ephemerals gone', () => {
  const p = pair({ psk: random(32) });
  const init = createInitiation(p.initiator.identity, p.initiator.remote, p.initiator.hs, 1, TIMESTAMP)!;
  const consumed = consumeInitiation(p.responder.identity, init, lookup(p.responder))!;
  acceptInitiation(p.responder.hs, consumed, 1234);
  const resp = createResponse(p.responder.identity, p.responder.remote, p.responder.hs, 2)!;
  assert.ok(consumeResponse(p.initiator.identity, p.initiator.remote, p.initiator.hs, resp));

  for (const side of [p.initiator, p.responder]) {
    const hs = side.hs;
    const chainingKey = hs.chainingKey;
    const hash = hs.hash;
    const ephemeralPrivate = hs.localEphemeralPrivate;
    const remoteEphemeral = hs.remoteEphemeral;
    assert.ok(!isAllZero(chainingKey) && !isAllZero(hash) && remoteEphemeral);
    assert.ok(deriveSession(hs));
    assert.equal(hs.state, HandshakeState.Zeroed);
    assert.ok(isAllZero(hs.chainingKey), 'chaining key zero');
    assert.ok(isAllZero(hs.hash), 'hash zero');
    assert.ok(isAllZero(chainingKey), 'the old chaining key buffer was overwritten, not just dropped');
    assert.ok(isAllZero(hash), 'the old hash buffer was overwritten');
    if (ephemeralPrivate) assert.ok(isAllZero(ephemeralPrivate), 'ephemeral private key overwritten');
    assert.ok(isAllZero(remoteEphemeral), 'remote ephemeral overwritten');
    assert.equal(hs.localEphemeralPrivate, undefined);
    assert.equal(hs.remoteEphemeral, undefined);
    assert.equal(hs.localIndex, 0);
    assert.equal(hs.remoteIndex, 0);
    assert.equal(deriveSession(hs), undefined, 'a second derivation is impossible');
  }
  // The replay-protection state survives.
  assert.equal(toHex(p.responder.hs.latestTimestamp), toHex(TIMESTAMP));
  assert.equal(p.responder.hs.lastInitiationConsumption, 1234);
});

test('presharedKeyOrZero: the configured key, or 32 zero bytes for none or all-zero', () => {
  assert.ok(isAllZero(presharedKeyOrZero(undefined)) && presharedKeyOrZero(undefined).length === 32);
  assert.ok(isAllZero(presharedKeyOrZero(new Uint8Array(32))));
  const psk = random(32);
  assert.equal(toHex(presharedKeyOrZero(psk)), toHex(psk));
});

// ---------------------------------------------------------------------------------
// Known answer: every byte against an independent implementation of the whitepaper
// ---------------------------------------------------------------------------------

/** A provider whose "random" private keys come from a list, so the transcript is reproducible. */
function scriptedProvider(base: CryptoProvider, keys: Uint8Array[]): CryptoProvider {
  return { ...base, generatePrivateKey: () => keys.shift()!.slice() };
}

const WHITEPAPER_PY = String.raw`
import sys, json, hashlib, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

v = {k: bytes.fromhex(x) for k, x in json.load(sys.stdin).items()}

def HASH(*parts): return hashlib.blake2s(b"".join(parts)).digest()
def MAC(key, data): return hashlib.blake2s(data, key=key, digest_size=16).digest()
def HMAC(key, data): return hmac.new(key, data, hashlib.blake2s).digest()
def KDF(n, key, data):
    prk = HMAC(key, data)
    out, t = [], b""
    for i in range(1, n + 1):
        t = HMAC(prk, t + bytes([i]))
        out.append(t)
    return out
def AEAD(key, counter, plain, auth):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + counter.to_bytes(8, "little"), plain, auth)
def priv(raw): return X25519PrivateKey.from_private_bytes(raw)
def pub(raw): return priv(raw).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
def DH(private, public): return priv(private).exchange(X25519PublicKey.from_public_bytes(public))

S_i, S_r, E_i, E_r, Q = v["si"], v["sr"], v["ei"], v["er"], v["psk"]
S_i_pub, S_r_pub, E_i_pub, E_r_pub = pub(S_i), pub(S_r), pub(E_i), pub(E_r)

C = HASH(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
H = HASH(C, b"WireGuard v1 zx2c4 Jason@zx2c4.com")
H = HASH(H, S_r_pub)
C = KDF(1, C, E_i_pub)[0]
H = HASH(H, E_i_pub)
C, k = KDF(2, C, DH(E_i, S_r_pub))
enc_static = AEAD(k, 0, S_i_pub, H)
H = HASH(H, enc_static)
C, k = KDF(2, C, DH(S_i, S_r_pub))
enc_time = AEAD(k, 0, v["ts"], H)
H = HASH(H, enc_time)
init = bytes([1, 0, 0, 0]) + v["isender"] + E_i_pub + enc_static + enc_time
init += MAC(HASH(b"mac1----", S_r_pub), init) + bytes(16)

C = KDF(1, C, E_r_pub)[0]
H = HASH(H, E_r_pub)
C = KDF(1, C, DH(E_r, E_i_pub))[0]
C = KDF(1, C, DH(E_r, S_i_pub))[0]
C, tau, k = KDF(3, C, Q)
H = HASH(H, tau)
enc_empty = AEAD(k, 0, b"", H)
H = HASH(H, enc_empty)
resp = bytes([2, 0, 0, 0]) + v["rsender"] + v["isender"] + E_r_pub + enc_empty
resp += MAC(HASH(b"mac1----", S_i_pub), resp) + bytes(16)

t_i_send, t_i_recv = KDF(2, C, b"")
print(json.dumps({"init": init.hex(), "resp": resp.hex(), "i_send": t_i_send.hex(), "i_recv": t_i_recv.hex()}))
`;

test('known answer: the transcript matches an independent whitepaper implementation byte for byte', (t) => {
  const probe = spawnSync('python3', ['-c', 'import cryptography.hazmat.primitives.ciphers.aead, hashlib, hmac']);
  if (probe.error || probe.status !== 0) {
    t.skip('python3 with the cryptography package is not available');
    return;
  }
  for (const [initiatorBase, responderBase] of [
    [nobleCrypto, nobleCrypto],
    [nativeCrypto, nobleCrypto],
    [nobleCrypto, nativeCrypto],
  ] as const) {
    for (const psk of [new Uint8Array(32), random(32)]) {
      const si = nobleCrypto.generatePrivateKey();
      const sr = nobleCrypto.generatePrivateKey();
      const ei = nobleCrypto.generatePrivateKey();
      const er = nobleCrypto.generatePrivateKey();
      const timestamp = random(12);
      const initiatorCrypto = scriptedProvider(initiatorBase, [ei]);
      const responderCrypto = scriptedProvider(responderBase, [er]);
      const i = new StaticIdentity(initiatorCrypto, si);
      const r = new StaticIdentity(responderCrypto, sr);
      const toR: TestPeer = { name: 'r', remoteStatic: r.publicKey, presharedKey: psk, staticStatic: i.staticStatic(r.publicKey) };
      const toI: TestPeer = { name: 'i', remoteStatic: i.publicKey, presharedKey: psk, staticStatic: r.staticStatic(i.publicKey) };
      const ihs = new Handshake();
      const rhs = new Handshake();

      const init = createInitiation(i, toR, ihs, 0xa1b2c3d4, timestamp)!;
      new CookieGenerator(initiatorCrypto, r.publicKey).addMacs(init, 0);
      const consumed = consumeInitiation(r, init, (key) => (toHex(key) === toHex(i.publicKey) ? toI : undefined))!;
      assert.equal(toHex(consumed.timestamp), toHex(timestamp));
      acceptInitiation(rhs, consumed, 0);
      const resp = createResponse(r, toI, rhs, 0x01020304)!;
      new CookieGenerator(responderCrypto, i.publicKey).addMacs(resp, 0);
      assert.ok(consumeResponse(i, toR, ihs, resp));
      const initiatorKeys = deriveSession(ihs)!;
      const responderKeys = deriveSession(rhs)!;

      const run = spawnSync('python3', ['-c', WHITEPAPER_PY], {
        encoding: 'utf8',
        input: JSON.stringify({
          si: toHex(si),
          sr: toHex(sr),
          ei: toHex(ei),
          er: toHex(er),
          psk: toHex(psk),
          ts: toHex(timestamp),
          isender: 'd4c3b2a1',
          rsender: '04030201',
        }),
      });
      assert.equal(run.status, 0, run.stderr);
      const expected = JSON.parse(run.stdout) as { init: string; resp: string; i_send: string; i_recv: string };
      const label = `${initiatorBase.name} -> ${responderBase.name}, psk ${isAllZero(psk) ? 'none' : 'set'}`;
      assert.equal(toHex(init), expected.init, `initiation, ${label}`);
      assert.equal(toHex(resp), expected.resp, `response, ${label}`);
      assert.equal(toHex(initiatorKeys.sendKey), expected.i_send, `initiator send key, ${label}`);
      assert.equal(toHex(initiatorKeys.receiveKey), expected.i_recv, `initiator receive key, ${label}`);
      assert.equal(toHex(responderKeys.receiveKey), expected.i_send, `responder receive key, ${label}`);
      assert.equal(toHex(responderKeys.sendKey), expected.i_recv, `responder send key, ${label}`);
    }
  }
});
