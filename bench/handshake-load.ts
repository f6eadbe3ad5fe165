/**
 * Handshake load generator: many simulated peers, each with its own key, source
 * address and UDP socket, send valid handshake initiations to one responder and
 * count the responses. It runs inside site A's namespace (the bench re-executes
 * its own bundle with --handshake-client), so its traffic crosses the veth like a
 * real peer's would.
 *
 * What makes the count mean "responder handshakes per second":
 *  - Every initiation is valid (built with our own protocol code) and goes to a
 *    peer the responder has configured, so each one costs the responder the full
 *    consume-initiation + create-response work (four Curve25519 operations).
 *  - Each peer waits 55 ms after each answer before its next initiation: slower than
 *    both responders' per-peer limit (wgts: one per 50 ms; wireguard-go: 20 ms) and
 *    the per-source rate limit under load (20/s, burst 5), with one source address
 *    per peer, so neither limit is what we measure. The ceiling this pacing sets
 *    (peers / 55 ms) is reported with the result.
 *  - A loaded responder answers with a cookie reply instead; the peer takes the
 *    cookie and sends again with mac2, as a real initiator does. Cookie replies are
 *    counted separately, never as handshakes.
 *  - Initiations are built before the clock starts, so the generator's own CPU
 *    (it shares the machine with the responder) is mostly the cost of a send and a
 *    receive. To build them quickly each simulated peer reuses one ephemeral key
 *    (the responder cannot tell; a real initiator must not do this).
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { nativeCrypto } from '../src/platform/node/native-crypto';
import type { CryptoProvider } from '../src/crypto/provider';
import { toHex } from '../src/crypto/bytes';
import { CookieGenerator } from '../src/protocol/cookie';
import { MessageType, readU32 } from '../src/protocol/messages';
import { createInitiation, Handshake, StaticIdentity } from '../src/protocol/noise';
import { decodeKey } from '../src/protocol/keys';
import { tai64nFromUnixMs } from '../src/protocol/tai64n';

export interface HandshakeLoadParams {
  responderPublicKey: string;
  responderAddress: string;
  responderPort: number;
  /** Base64 private keys, one per simulated peer. */
  peerPrivateKeys: string[];
  /** One source address per peer (already configured in the namespace). */
  sourceAddresses: string[];
  warmupMs: number;
  measureMs: number;
}

export interface HandshakeLoadResult {
  handshakesPerSecond: number;
  responses: number;
  cookieReplies: number;
  timeouts: number;
  /** The most this generator could count: peers / pacing interval. */
  ceilingPerSecond: number;
  /** CPU the generator itself used while measuring, as a share of one core. */
  generatorCpuShare: number;
}

/** Per peer: comfortably above the 50 ms per-peer and per-source limits. */
const PEER_INTERVAL_MS = 55;
/** An initiation unanswered this long is given up (lost); the peer sends a fresh one. */
const ANSWER_TIMEOUT_MS = 5000;
/** Initiations outstanding at once. */
const WINDOW = 128;
/** TAI64N steps per initiation: above the 2^24 ns whitening, so each one is newer. */
const TIMESTAMP_STEP_MS = 20;

/** A CryptoProvider that gives every initiation the same ephemeral key and remembers DH results. */
function fixedEphemeralCrypto(base: CryptoProvider, ephemeral: Uint8Array): CryptoProvider {
  const dh = new Map<string, Uint8Array | undefined>();
  const pub = new Map<string, Uint8Array>();
  return {
    ...base,
    // Copies: the handshake wipes what it is handed once it is done with it.
    generatePrivateKey: () => ephemeral.slice(),
    x25519PublicKey(privateKey) {
      const k = toHex(privateKey);
      if (!pub.has(k)) pub.set(k, base.x25519PublicKey(privateKey));
      return pub.get(k)!.slice();
    },
    x25519(privateKey, publicKey) {
      const k = toHex(privateKey) + toHex(publicKey);
      if (!dh.has(k)) dh.set(k, base.x25519(privateKey, publicKey));
      return dh.get(k)?.slice();
    },
  };
}

interface SimulatedPeer {
  id: number;
  socket: dgram.Socket;
  cookies: CookieGenerator;
  /** Prepared initiations (macs are added when sent: mac2 needs the cookie). */
  queue: Uint8Array[];
  next: number;
  /** Sender index of the initiation awaiting an answer, if any. */
  inFlight: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export async function runHandshakeLoad(params: HandshakeLoadParams): Promise<HandshakeLoadResult> {
  const responderKey = decodeKey(params.responderPublicKey);
  if (!responderKey) throw new Error('bad responder public key');
  const totalMs = params.warmupMs + params.measureMs;
  const perPeer = Math.ceil(totalMs / PEER_INTERVAL_MS) + 16;
  const baseMs = Date.now();
  const peers: SimulatedPeer[] = [];

  for (let i = 0; i < params.peerPrivateKeys.length; i++) {
    const privateKey = decodeKey(params.peerPrivateKeys[i]!)!;
    const crypto = fixedEphemeralCrypto(nativeCrypto, nativeCrypto.generatePrivateKey());
    const identity = new StaticIdentity(crypto, privateKey);
    const remote = {
      remoteStatic: responderKey,
      presharedKey: new Uint8Array(32),
      staticStatic: identity.staticStatic(responderKey),
    };
    const queue: Uint8Array[] = [];
    for (let seq = 0; seq < perPeer; seq++) {
      const index = (i << 16) | seq;
      const msg = createInitiation(identity, remote, new Handshake(), index, tai64nFromUnixMs(baseMs + seq * TIMESTAMP_STEP_MS));
      if (!msg) throw new Error('createInitiation failed');
      queue.push(msg);
    }
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, params.sourceAddresses[i], () => resolve());
    });
    const cookies = new CookieGenerator(nativeCrypto, responderKey);
    peers.push({ id: i, socket, cookies, queue, next: 0, inFlight: undefined, timer: undefined });
  }

  let measuring = false;
  let stopped = false;
  let responses = 0;
  let cookieReplies = 0;
  let timeouts = 0;
  // A closed loop: at most WINDOW initiations outstanding, so the responder always has
  // work queued but its socket buffer never overflows (which would measure the buffer).
  let freeSlots = Math.min(WINDOW, peers.length);
  const ready: SimulatedPeer[] = [...peers];

  const pump = (): void => {
    while (!stopped && freeSlots > 0 && ready.length > 0) {
      const p = ready.shift()!;
      // Sized for the whole run at the pacing rate; a peer that still runs out just stops.
      if (p.next >= p.queue.length) continue;
      freeSlots--;
      send(p);
    }
  };
  const send = (p: SimulatedPeer): void => {
    const msg = p.queue[p.next++]!;
    const now = performance.now();
    p.cookies.addMacs(msg, now);
    p.inFlight = readU32(msg, 4);
    p.socket.send(msg, params.responderPort, params.responderAddress);
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      if (measuring) timeouts++;
      release(p, 0);
    }, ANSWER_TIMEOUT_MS);
  };
  /** The peer's initiation is done with: free its slot, and it may go again after `waitMs`. */
  const release = (p: SimulatedPeer, waitMs: number): void => {
    p.inFlight = undefined;
    freeSlots++;
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      ready.push(p);
      pump();
    }, waitMs);
    pump();
  };

  for (const p of peers) {
    p.socket.on('message', (msg) => {
      if (msg.length < 12) return;
      if (msg[0] === MessageType.HandshakeResponse && readU32(msg, 8) >>> 16 === p.id) {
        // Every response is a handshake the responder completed, even one answering an
        // initiation we had already given up on.
        if (measuring) responses++;
        // Paced from the answer, not from our send: the responder may have consumed the
        // last one late (queued), and one sooner than 50 ms after it would be dropped.
        if (readU32(msg, 8) === p.inFlight) release(p, PEER_INTERVAL_MS);
      } else if (msg[0] === MessageType.CookieReply && readU32(msg, 4) === p.inFlight) {
        if (measuring) cookieReplies++;
        // The initiation was not processed: send the next one at once, now with mac2.
        if (p.cookies.consumeReply(msg, performance.now()) && p.next < p.queue.length) send(p);
      }
    });
  }

  pump();
  await new Promise((resolve) => setTimeout(resolve, params.warmupMs));
  measuring = true;
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, params.measureMs));
  measuring = false;
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpuStart);
  stopped = true;
  for (const p of peers) {
    if (p.timer) clearTimeout(p.timer);
    p.socket.close();
  }
  return {
    handshakesPerSecond: Math.round((responses * 1000) / elapsed),
    responses,
    cookieReplies,
    timeouts,
    ceilingPerSecond: Math.round((peers.length * 1000) / PEER_INTERVAL_MS),
    generatorCpuShare: Number(((cpu.user + cpu.system) / 1000 / elapsed).toFixed(2)),
  };
}

/** Entry point of the re-executed bundle: parameters from a file, result as one JSON line. */
export async function handshakeLoadMain(paramsFile: string): Promise<void> {
  const params = JSON.parse(readFileSync(paramsFile, 'utf8')) as HandshakeLoadParams;
  const result = await runHandshakeLoad(params);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
