/**
 * CPU time a wgts responder spends per handshake, measured in-process: a
 * responder `Device` with many configured peers is fed valid initiations built
 * beforehand by simulated initiators, and process.cpuUsage() (not the wall
 * clock: this machine is shared) is read around the loop that consumes them.
 * Every initiation is answered with a response (checked), so each one costs the
 * full consume-initiation + create-response work; mac1 is checked too, as on
 * the wire. No sockets, no event loop: what is left is the core's own cost.
 *
 *   node_modules/.bin/esbuild bench/handshake-cpu.ts --bundle --platform=node --format=cjs \
 *     --outfile=build/bench/handshake-cpu.cjs --log-level=warning
 *   node build/bench/handshake-cpu.cjs [--peers 1000] [--handshakes 3000] [--noble-handshakes 300]
 *                                      [--only native|noble] [--primitives] [--rounds 5]
 *
 * It prints µs of CPU per handshake and the single-core rate that implies
 * (1e6 / µs), per provider and round, the best and median round, then one JSON
 * line. --primitives adds the cost of each operation a handshake is made of and
 * how many of each it makes. Providers are chosen through selectCryptoProvider
 * and prepared, as the daemon does (WGTS_AEAD=openssl keeps OpenSSL transport
 * ciphers). Not a test: nothing here asserts a timing.
 */
import { Device } from '../src/device/device';
import { FakeClock } from '../test/helpers/fake-world';
import { CookieGenerator } from '../src/protocol/cookie';
import { MessageType } from '../src/protocol/messages';
import { createInitiation, Handshake, StaticIdentity } from '../src/protocol/noise';
import { tai64nFromUnixMs } from '../src/protocol/tai64n';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { hash, hmac, kdf2, mac, useBlake2sFrom } from '../src/crypto/blake2s';
import type { CryptoProvider } from '../src/crypto/provider';
import type { Endpoint } from '../src/platform/types';
import { nativeCrypto, selectCryptoProvider } from '../src/platform/node/native-crypto';

interface Options {
  peers: number;
  handshakes: number;
  nobleHandshakes: number;
  only: string | undefined;
  primitives: boolean;
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { peers: 1000, handshakes: 3000, nobleHandshakes: 300, only: undefined, primitives: false, rounds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--peers') options.peers = Number(value());
    else if (arg === '--handshakes') options.handshakes = Number(value());
    else if (arg === '--noble-handshakes') options.nobleHandshakes = Number(value());
    else if (arg === '--only') options.only = value();
    else if (arg === '--rounds') options.rounds = Number(value());
    else if (arg === '--primitives') options.primitives = true;
    else throw new Error(`unknown option ${arg}`);
  }
  // The per-peer limit admits one initiation per 50 ms; the clock steps 10 ms per message.
  if (!(options.peers >= 6)) throw new Error('--peers must be at least 6');
  return options;
}

/**
 * 10 ms per message is 100 handshake messages a second: below the device's
 * under-load threshold (128/s), so no cookie replies, no per-source limiting;
 * with ≥ 6 peers taken in turn, each peer is also slower than its 50 ms limit.
 */
const CLOCK_STEP_MS = 10;

interface Initiator {
  endpoint: Endpoint;
  initiations: Uint8Array[];
}

/**
 * Initiations from `peers` simulated initiators, `perPeer` each, with
 * increasing timestamps. Built with the native provider whatever the responder
 * uses (the bytes are the same; only the preparation is faster).
 */
function buildInitiators(responderPublic: Uint8Array, peerKeys: Uint8Array[], perPeer: number, wallStart: number): Initiator[] {
  return peerKeys.map((privateKey, i) => {
    const identity = new StaticIdentity(nativeCrypto, privateKey);
    const remote = { remoteStatic: responderPublic, presharedKey: new Uint8Array(32), staticStatic: identity.staticStatic(responderPublic) };
    const cookies = new CookieGenerator(nativeCrypto, responderPublic);
    const initiations: Uint8Array[] = [];
    for (let seq = 0; seq < perPeer; seq++) {
      // 20 ms apart: more than the 2^24 ns whitening of TAI64N, so each is newer.
      const msg = createInitiation(identity, remote, new Handshake(), (i << 12) | seq, tai64nFromUnixMs(wallStart + seq * 20));
      if (!msg) throw new Error('createInitiation failed');
      cookies.addMacs(msg, 0);
      initiations.push(msg);
    }
    const endpoint: Endpoint = { family: 4, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 51820 };
    return { endpoint, initiations };
  });
}

interface Measurement {
  provider: string;
  peers: number;
  handshakes: number;
  cpuMicrosPerHandshake: number;
  wallMicrosPerHandshake: number;
  singleCorePerSecond: number;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function measureResponder(crypto: CryptoProvider, options: Options, handshakes: number, onMeasureStart?: () => void): Measurement {
  const clock = new FakeClock(); // stepped by hand: 10 ms per message
  let responses = 0;
  let otherMessages = 0;
  const device = new Device({
    crypto,
    clock,
    io: {
      sendDatagram: (datagram) => {
        if (datagram[0] === MessageType.HandshakeResponse) responses++;
        else otherMessages++;
      },
      writeToTun: () => {},
      // Each message is consumed as it arrives: the CPU per handshake, not the queue, is measured.
      scheduleHandshakes: () => device.processHandshakes(),
    },
  });
  device.setPrivateKey(nativeCrypto.generatePrivateKey());
  const peerKeys = Array.from({ length: options.peers }, () => nativeCrypto.generatePrivateKey());
  for (const key of peerKeys) device.addPeer(nativeCrypto.x25519PublicKey(key));
  device.up();

  // A warm-up of a tenth (at least 50) lets the JIT settle before the clock starts.
  const warmup = Math.max(50, Math.floor(handshakes / 10));
  const total = warmup + handshakes;
  const perPeer = Math.ceil(total / options.peers);
  const initiators = buildInitiators(device.publicKey!, peerKeys, perPeer, clock.wall);

  const feed = (from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      const initiator = initiators[k % options.peers]!;
      clock.advance(CLOCK_STEP_MS);
      device.handleDatagram(initiator.initiations[Math.floor(k / options.peers)]!, initiator.endpoint);
    }
  };

  feed(0, warmup);
  if (responses !== warmup) throw new Error(`warm-up: ${responses} responses to ${warmup} initiations`);
  onMeasureStart?.();
  const cpuStart = cpuMicros();
  const wallStart = performance.now();
  feed(warmup, total);
  const wallMicros = (performance.now() - wallStart) * 1000;
  const cpu = cpuMicros() - cpuStart;
  if (responses !== total || otherMessages !== 0) {
    throw new Error(`${responses} responses and ${otherMessages} other messages to ${total} initiations (drops: ${JSON.stringify(device.drops)})`);
  }
  return {
    provider: crypto.name,
    peers: options.peers,
    handshakes,
    cpuMicrosPerHandshake: cpu / handshakes,
    wallMicrosPerHandshake: wallMicros / handshakes,
    singleCorePerSecond: 1e6 / (cpu / handshakes),
  };
}

/** µs of CPU per call of `op`, after a warm-up, over at least `minMs` of CPU. */
function microsPerOp(op: () => unknown, minMs = 300): number {
  for (let i = 0; i < 20; i++) op();
  let calls = 0;
  const start = cpuMicros();
  let spent = 0;
  while (spent < minMs * 1000) {
    for (let i = 0; i < 10; i++) op();
    calls += 10;
    spent = cpuMicros() - start;
  }
  return spent / calls;
}

/**
 * How many of each provider operation, HASH and HMAC one responder handshake
 * performs, counted through a wrapper around `crypto`. MAC (keyed BLAKE2s) is not
 * a provider operation and is not counted: two per handshake (mac1 checked on the
 * initiation, mac1 of the response; no mac2 below the under-load threshold).
 */
function countOperations(crypto: CryptoProvider, options: Options): Record<string, number> {
  const counts = new Map<string, number>();
  const count = (name: string): void => void counts.set(name, (counts.get(name) ?? 0) + 1);
  const counting: Record<string, unknown> = { ...crypto };
  for (const [name, value] of Object.entries(crypto)) {
    if (typeof value !== 'function') continue;
    counting[name] = (...args: unknown[]) => {
      count(name);
      return (value as (...a: unknown[]) => unknown).apply(crypto, args);
    };
  }
  // HASH/HMAC are counted where crypto/blake2s.ts calls them, so the counters are
  // installed there and call the real implementation (the provider's or noble's).
  const realHash =
    crypto.blake2sHash?.bind(crypto) ??
    ((parts: readonly Uint8Array[]) => {
      const h = blake2s.create();
      for (const part of parts) h.update(part);
      return h.digest();
    });
  const realHmac =
    crypto.blake2sHmac?.bind(crypto) ??
    ((key: Uint8Array, parts: readonly Uint8Array[]) => {
      const h = nobleHmac.create(blake2s, key);
      for (const part of parts) h.update(part);
      return h.digest();
    });
  const handshakes = 100;
  try {
    measureResponder(counting as unknown as CryptoProvider, options, handshakes, () => {
      counts.clear();
      useBlake2sFrom({
        name: 'counting',
        blake2sHash: (parts) => (count('HASH'), realHash(parts)),
        blake2sHmac: (key, parts) => (count('HMAC'), realHmac(key, parts)),
      });
    });
  } finally {
    useBlake2sFrom(crypto);
  }
  return Object.fromEntries([...counts].map(([name, n]) => [name, n / handshakes]));
}

/** The operations a responder handshake is made of, one by one, with the blake2s path the provider selected. */
function measurePrimitives(crypto: CryptoProvider): Record<string, number> {
  const a = crypto.generatePrivateKey();
  const b = crypto.x25519PublicKey(crypto.generatePrivateKey());
  const key = crypto.randomBytes(32);
  const data = crypto.randomBytes(32);
  const initiationBody = crypto.randomBytes(116);
  crypto.rememberStaticKey?.(a);
  const result = {
    'generatePrivateKey+x25519PublicKey': microsPerOp(() => crypto.x25519PublicKey(crypto.generatePrivateKey())),
    'x25519 (static key)': microsPerOp(() => crypto.x25519(a, b)),
    'x25519 (fresh key)': microsPerOp(() => crypto.x25519(crypto.generatePrivateKey(), b)),
    'hash(64 B)': microsPerOp(() => hash(key, data)),
    'hmac(32 B key, 32 B)': microsPerOp(() => hmac(key, data)),
    kdf2: microsPerOp(() => kdf2(key, data)),
    'mac (mac1 of an initiation)': microsPerOp(() => mac(key, initiationBody)),
    'aeadOpen (48 B)': microsPerOp(() => crypto.aeadOpen(key, 0, crypto.aeadSeal(key, 0, data, data), data)) / 2,
  };
  crypto.rememberStaticKey?.(undefined);
  return result;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const providers = ['native', 'noble'].filter((name) => !options.only || options.only === name);
  const results: Measurement[] = [];
  const primitives: Record<string, Record<string, number>> = {};
  const operations: Record<string, Record<string, number>> = {};
  for (const name of providers) {
    const crypto = selectCryptoProvider(name);
    if (crypto.name !== name) {
      console.log(`${name}: not available here (got ${crypto.name})`);
      continue;
    }
    // As the daemon does before its first session (a no-op for providers without it).
    await crypto.prepare?.();
    const handshakes = name === 'noble' ? options.nobleHandshakes : options.handshakes;
    for (let round = 0; round < options.rounds; round++) {
      const m = measureResponder(crypto, options, handshakes);
      results.push(m);
      console.log(
        `${m.provider.padEnd(6)} round ${round + 1}: ${m.cpuMicrosPerHandshake.toFixed(0).padStart(6)} µs CPU/handshake` +
          ` (wall ${m.wallMicrosPerHandshake.toFixed(0)} µs), ${m.handshakes} handshakes, ${m.peers} peers` +
          ` → ${m.singleCorePerSecond.toFixed(0)} handshakes/s on one core`,
      );
    }
    if (options.primitives) {
      primitives[name] = measurePrimitives(crypto);
      for (const [op, us] of Object.entries(primitives[name]!)) console.log(`  ${name} ${op.padEnd(36)} ${us.toFixed(1).padStart(8)} µs`);
      operations[name] = countOperations(crypto, options);
      console.log(`  ${name} per handshake: ${Object.entries(operations[name]!).map(([op, n]) => `${op} ${n}`).join(', ')}, MAC 2`);
    }
  }
  // Other work on a shared machine only ever adds CPU time (cache and core
  // contention), so the best round is the truest; the median shows the spread.
  const summary: Record<string, { best: number; median: number }> = {};
  for (const name of providers) {
    const rounds = results.filter((m) => m.provider === name).map((m) => m.cpuMicrosPerHandshake);
    if (rounds.length === 0) continue;
    rounds.sort((a, b) => a - b);
    summary[name] = { best: Math.round(rounds[0]!), median: Math.round(rounds[Math.floor((rounds.length - 1) / 2)]!) };
    console.log(
      `${name}: best ${summary[name]!.best} µs, median ${summary[name]!.median} µs CPU per handshake` +
        ` → ${Math.round(1e6 / rounds[0]!)} (best) / ${Math.round(1e6 / summary[name]!.median)} (median) handshakes/s on one core`,
    );
  }
  console.log(JSON.stringify({ node: process.version, cpuMicrosPerHandshake: summary, results, primitives, operations }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
