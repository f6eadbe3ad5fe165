/**
 * The hostile side of the hardening tests, run as its own node process inside a
 * test namespace (bundled at test time, see world.ts). One JSON argument picks a role:
 *
 * - relay: a UDP middlebox between two WireGuard endpoints. It records what passes (the
 *   "captured" messages the other roles replay and mutate) and can impair the path the
 *   way `tc qdisc … netem loss/duplicate/reorder/delay` would, for kernels without
 *   sch_netem. Controlled over stdin ("dump", "stats", "impair {json}"), answers on stdout.
 * - fuzz: throws `count` hostile datagrams at a port at a paced rate and reports what it
 *   sent by category (random bytes, off-by-one lengths, bit flips, wrong receiver
 *   indices, replays of stale counters, handshakes with a valid mac1).
 * - flood: handshake initiations from many source addresses, each with a valid mac1.
 *   "Cookie-aware" sources decrypt the cookie replies and stamp mac2 from then on (an
 *   attacker that owns its addresses); the others never read them (spoofed sources).
 * - send: sends given datagrams from one socket and reports what came back.
 *
 * Every role prints exactly one JSON line per answer, so the test can parse stdout.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { nobleCrypto } from '../../../src/crypto/noble';
import { mac, MAC_LENGTH } from '../../../src/crypto/blake2s';
import { cookieKey, mac1Key } from '../../../src/protocol/cookie';
import { decodeKey } from '../../../src/protocol/keys';
import {
  COOKIE_REPLY_LENGTH,
  HANDSHAKE_INITIATION_LENGTH,
  HANDSHAKE_RESPONSE_LENGTH,
  MessageType,
  TRANSPORT_MIN_LENGTH,
  writeU32,
} from '../../../src/protocol/messages';
import { prng } from '../../helpers/prng';

export interface Impairment {
  /** Probabilities in 0..1, as netem's percentages. */
  loss: number;
  duplicate: number;
  /** Fraction sent at once instead of after delayMs (netem's "reorder P"). */
  reorder: number;
  /** netem's reorder correlation: how much each decision leans on the previous one. */
  reorderCorrelation: number;
  delayMs: number;
}

export interface RelaySide {
  /** The port the relay listens on for this side (0: any). */
  listenPort: number;
  /** This side's real WireGuard endpoint. */
  peer: { address: string; port: number };
}

export interface RelayRole {
  role: 'relay';
  /** Local address both relay sockets bind to. */
  bind: string;
  /** Side A sends to a.listenPort, side B to b.listenPort; each reaches the other through the relay. */
  a: RelaySide;
  b: RelaySide;
  /** Keep at most this many datagrams per direction and message type. */
  record?: number;
  impair?: Impairment;
}

/** Captured datagrams in hex, as the relay's "dump" returns them. */
export interface Capture {
  /** Sent by A, addressed to B. */
  toB: string[];
  /** Sent by B, addressed to A. */
  toA: string[];
}

export interface FuzzRole {
  role: 'fuzz';
  target: { v4: string; v6?: string; port: number };
  count: number;
  /** Datagrams per second. */
  rate: number;
  /** A JSON file holding { valid: string[] } — real messages addressed to the target, in hex. */
  captureFile: string;
  /** The target's public key (base64): lets the fuzzer stamp a valid mac1 on forged handshakes. */
  targetPublicKey: string;
  seed: number;
}

export interface FloodRole {
  role: 'flood';
  sources: string[];
  /** How many of `sources` (the first ones) read cookie replies and use them. */
  cookieAware: number;
  target: { address: string; port: number };
  targetPublicKey: string;
  /** Initiations per second over all sources. */
  rate: number;
  /**
   * Initiations sent back to back, at intervals that keep `rate` (default: paced every 2 ms).
   * A flood that arrives in bursts builds a backlog at the responder however fast its CPU is.
   */
  burst?: number;
  durationMs: number;
}

export interface SendRole {
  role: 'send';
  target: { address: string; port: number };
  datagrams: string[];
  /** How long to listen for answers after the last send. */
  listenMs: number;
  gapMs?: number;
}

export type Role = RelayRole | FuzzRole | FloodRole | SendRole;

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

function bindSocket(type: 'udp4' | 'udp6', address?: string, port = 0): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type, sendBufferSize: 4 << 20, recvBufferSize: 4 << 20 });
    s.once('error', reject);
    s.bind({ address, port }, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

// ---------------------------------------------------------------------------- relay

async function relay(cfg: RelayRole): Promise<void> {
  const family = cfg.bind.includes(':') ? 'udp6' : 'udp4';
  const fromA = await bindSocket(family, cfg.bind, cfg.a.listenPort);
  const fromB = await bindSocket(family, cfg.bind, cfg.b.listenPort);
  let impair = cfg.impair;
  const limit = cfg.record ?? 0;
  const capture: Capture = { toB: [], toA: [] };
  const perType = { toB: new Map<number, number>(), toA: new Map<number, number>() };
  const stats = { toB: newPathStats(), toA: newPathStats() };
  const random = prng(Date.now());
  let lastReorderDraw = 0;

  const record = (dir: 'toA' | 'toB', msg: Buffer) => {
    const n = perType[dir].get(msg[0]!) ?? 0;
    if (n >= limit) return;
    perType[dir].set(msg[0]!, n + 1);
    capture[dir].push(hex(msg));
  };

  // netem's order of decisions: loss, duplication, then delay unless picked for reordering.
  const forward = (dir: 'toA' | 'toB', send: () => void) => {
    const s = stats[dir];
    s.received++;
    if (!impair) {
      s.forwarded++;
      return send();
    }
    if (random() < impair.loss) {
      s.lost++;
      return;
    }
    const copies = random() < impair.duplicate ? 2 : 1;
    if (copies === 2) s.duplicated++;
    const rho = impair.reorderCorrelation;
    lastReorderDraw = (1 - rho) * random() + rho * lastReorderDraw;
    const now = lastReorderDraw < impair.reorder;
    for (let i = 0; i < copies; i++) {
      s.forwarded++;
      if (now) {
        s.sentAtOnce++;
        send();
      } else {
        setTimeout(send, impair.delayMs);
      }
    }
  };

  // A reaches B through (fromA → fromB) and B reaches A through (fromB → fromA), so each side
  // sees one constant address for the other and either may start a handshake.
  fromA.on('message', (msg) => {
    if (limit) record('toB', msg);
    forward('toB', () => fromB.send(msg, cfg.b.peer.port, cfg.b.peer.address));
  });
  fromB.on('message', (msg) => {
    if (limit) record('toA', msg);
    forward('toA', () => fromA.send(msg, cfg.a.peer.port, cfg.a.peer.address));
  });
  for (const s of [fromA, fromB]) s.on('error', () => {});

  let buffered = '';
  process.stdin.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === 'dump') print(capture);
      else if (line === 'stats') print(stats);
      else if (line.startsWith('impair ')) {
        impair = JSON.parse(line.slice(7)) as Impairment;
        print({ ok: true });
      } else if (line === 'clear') {
        impair = undefined;
        print({ ok: true });
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
  print({ ready: true, a: fromA.address().port, b: fromB.address().port });
}

function newPathStats() {
  return { received: 0, forwarded: 0, lost: 0, duplicated: 0, sentAtOnce: 0 };
}

// ---------------------------------------------------------------------------- fuzz

/** The categories the fuzzer draws from, with their weights. */
const FUZZ_CATEGORIES = [
  ['randomBytes', 25],
  ['offByOneLength', 20],
  ['bitFlip', 25],
  ['truncatedOrExtended', 5],
  ['wrongReceiverIndex', 10],
  ['staleCounterReplay', 10],
  ['validMac1Handshake', 5],
] as const;
type FuzzCategory = (typeof FUZZ_CATEGORIES)[number][0];

const MESSAGE_LENGTHS: [number, number][] = [
  [MessageType.HandshakeInitiation, HANDSHAKE_INITIATION_LENGTH],
  [MessageType.HandshakeResponse, HANDSHAKE_RESPONSE_LENGTH],
  [MessageType.CookieReply, COOKIE_REPLY_LENGTH],
  [MessageType.TransportData, TRANSPORT_MIN_LENGTH],
];

async function fuzz(cfg: FuzzRole): Promise<void> {
  const valid = (JSON.parse(readFileSync(cfg.captureFile, 'utf8')) as { valid: string[] }).valid.map(unhex);
  if (valid.length === 0) throw new Error('fuzz: no captured messages to mutate');
  const transports = valid.filter((m) => m[0] === MessageType.TransportData);
  const withReceiver = valid.filter((m) => m[0] !== MessageType.HandshakeInitiation);
  const key = decodeKey(cfg.targetPublicKey);
  if (!key) throw new Error('fuzz: bad target public key');
  const targetMac1Key = mac1Key(key);
  const random = prng(cfg.seed);
  const int = (n: number) => Math.floor(random() * n);

  // Content comes from a pool filled once from the seed, so a run can be repeated exactly.
  const pool = new Uint8Array(1 << 22);
  const words = new Uint32Array(pool.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(random() * 0x1_0000_0000);
  const randomContent = (n: number) => {
    const out = Buffer.allocUnsafe(n);
    const at = int(pool.length - n);
    out.set(pool.subarray(at, at + n));
    return out;
  };

  const totalWeight = FUZZ_CATEGORIES.reduce((sum, [, w]) => sum + w, 0);
  const pick = (): FuzzCategory => {
    let r = random() * totalWeight;
    for (const [name, w] of FUZZ_CATEGORIES) {
      if ((r -= w) < 0) return name;
    }
    return 'randomBytes';
  };

  const make = (category: FuzzCategory): Buffer => {
    switch (category) {
      case 'randomBytes':
        return randomContent(int(1501));
      case 'offByOneLength': {
        const [type, length] = MESSAGE_LENGTHS[int(MESSAGE_LENGTHS.length)]!;
        const d = randomContent(Math.max(4, length - 1 + int(3)));
        d[0] = type;
        d[1] = d[2] = d[3] = 0;
        return d;
      }
      case 'bitFlip': {
        const d = Buffer.from(valid[int(valid.length)]!);
        const bit = int(d.length * 8);
        d[bit >> 3]! ^= 1 << (bit & 7);
        return d;
      }
      case 'truncatedOrExtended': {
        const m = valid[int(valid.length)]!;
        if (random() < 0.5) return Buffer.from(m.subarray(0, m.length - 1));
        const d = Buffer.alloc(m.length + 1);
        d.set(m);
        d[m.length] = int(256);
        return d;
      }
      case 'wrongReceiverIndex': {
        const d = Buffer.from(withReceiver[int(withReceiver.length)] ?? valid[0]!);
        // Responses carry the receiver at 8, transport and cookie replies at 4.
        writeU32(d, d[0] === MessageType.HandshakeResponse ? 8 : 4, Math.floor(random() * 0x1_0000_0000));
        return d;
      }
      case 'staleCounterReplay':
        return Buffer.from(transports[int(transports.length)] ?? valid[int(valid.length)]!);
      case 'validMac1Handshake': {
        // Random content, but addressed to the target: it passes mac1 and costs the target real work.
        const isInitiation = random() < 0.5;
        const d = randomContent(isInitiation ? HANDSHAKE_INITIATION_LENGTH : HANDSHAKE_RESPONSE_LENGTH);
        d[0] = isInitiation ? MessageType.HandshakeInitiation : MessageType.HandshakeResponse;
        d[1] = d[2] = d[3] = 0;
        const m1 = d.length - 2 * MAC_LENGTH;
        d.set(mac(targetMac1Key, d.subarray(0, m1)), m1);
        d.fill(0, m1 + MAC_LENGTH);
        return d;
      }
    }
  };

  const v4 = await bindSocket('udp4');
  const v6 = cfg.target.v6 ? await bindSocket('udp6') : undefined;
  // Cookie replies and anything else the target says come back here; count, do not read.
  let answers = 0;
  v4.on('message', () => answers++);
  v6?.on('message', () => answers++);
  const byCategory = Object.fromEntries(FUZZ_CATEGORIES.map(([n]) => [n, 0])) as Record<FuzzCategory, number>;
  let queued = 0;
  let ok = 0;
  let failed = 0;
  const onSent = (err: Error | null) => {
    if (err) failed++;
    else ok++;
  };
  const start = Date.now();
  await new Promise<void>((resolve) => {
    const step = () => {
      const due = Math.min(cfg.count, Math.floor(((Date.now() - start) / 1000) * cfg.rate));
      // Small batches: a burst larger than the socket buffer would be lost before the target reads it.
      const batchEnd = Math.min(due, queued + 200);
      for (; queued < batchEnd; queued++) {
        const category = pick();
        byCategory[category]++;
        const d = make(category);
        // One in ten goes to the IPv6 socket when the target has one.
        if (v6 && queued % 10 === 9) v6.send(d, cfg.target.port, cfg.target.v6, onSent);
        else v4.send(d, cfg.target.port, cfg.target.v4, onSent);
      }
      if (queued >= cfg.count) return resolve();
      if (queued < due) setImmediate(step);
      else setTimeout(step, 1);
    };
    step();
  });
  // Let the last sends complete before reporting.
  await new Promise<void>((resolve) => {
    const check = () => (ok + failed >= queued ? resolve() : setTimeout(check, 5));
    check();
  });
  const elapsedMs = Date.now() - start;
  await new Promise((r) => setTimeout(r, 300));
  print({ sent: ok, sendErrors: failed, elapsedMs, byCategory, answers, seed: cfg.seed });
  v4.close();
  v6?.close();
}

// ---------------------------------------------------------------------------- flood

/** How many unanswered initiations per source a cookie-aware flooder remembers. */
const PENDING_PER_SOURCE = 4096;

async function flood(cfg: FloodRole): Promise<void> {
  const key = decodeKey(cfg.targetPublicKey);
  if (!key) throw new Error('flood: bad target public key');
  const targetMac1Key = mac1Key(key);
  const targetCookieKey = cookieKey(key);
  const family = cfg.target.address.includes(':') ? 'udp6' : 'udp4';
  const sources = await Promise.all(
    cfg.sources.map(async (address, i) => ({
      socket: await bindSocket(family, address),
      aware: i < cfg.cookieAware,
      /** mac1 of each initiation in flight, by its sender index: a cookie reply names that index. */
      pending: new Map<number, Uint8Array>(),
      cookie: undefined as Uint8Array | undefined,
    })),
  );
  const stats = { sent: 0, sendErrors: 0, withMac2: 0, cookieReplies: 0, cookiesTaken: 0, otherAnswers: 0 };
  for (const source of sources) {
    source.socket.on('message', (msg) => {
      if (msg.length !== COOKIE_REPLY_LENGTH || msg[0] !== MessageType.CookieReply) {
        stats.otherAnswers++;
        return;
      }
      stats.cookieReplies++;
      if (!source.aware) return;
      const index = msg.readUInt32LE(4);
      const mac1 = source.pending.get(index);
      if (!mac1) return;
      source.pending.delete(index);
      const cookie = nobleCrypto.xaeadOpen(targetCookieKey, msg.subarray(8, 32), msg.subarray(32), mac1);
      if (!cookie) return;
      source.cookie = cookie;
      stats.cookiesTaken++;
    });
    source.socket.on('error', () => {});
  }
  const onSent = (err: Error | null) => {
    if (err) stats.sendErrors++;
  };
  const start = Date.now();
  const interval = cfg.burst ? Math.max(2, (cfg.burst / cfg.rate) * 1000) : 2;
  let queued = 0;
  await new Promise<void>((resolve) => {
    const step = () => {
      const elapsed = Date.now() - start;
      if (elapsed >= cfg.durationMs) return resolve();
      const due = Math.floor((elapsed / 1000) * cfg.rate);
      // The burst is built first and then sent back to back, so that it arrives faster
      // than a responder drains it (building each initiation, mac1 in noble, takes
      // longer than sending it: sent as built, a burst trickled in slower than wgts
      // answers junk with both threads, and never made a backlog).
      const burst: { socket: dgram.Socket; datagram: Uint8Array }[] = [];
      for (; queued < due; queued++) {
        const source = sources[queued % sources.length]!;
        // Initiation-shaped random bytes (sender index, "ephemeral key", "static", "timestamp"),
        // a fresh set every time, stamped with a valid mac1 and, once we hold a cookie, mac2.
        const d = new Uint8Array(HANDSHAKE_INITIATION_LENGTH);
        globalThis.crypto.getRandomValues(d.subarray(4, 116));
        d[0] = MessageType.HandshakeInitiation;
        const mac1 = mac(targetMac1Key, d.subarray(0, 116));
        d.set(mac1, 116);
        if (source.cookie) {
          d.set(mac(source.cookie, d.subarray(0, 132)), 132);
          stats.withMac2++;
        } else if (source.aware) {
          if (source.pending.size >= PENDING_PER_SOURCE) source.pending.clear();
          source.pending.set(new DataView(d.buffer).getUint32(4, true), mac1);
        }
        burst.push({ socket: source.socket, datagram: d });
      }
      for (const { socket, datagram } of burst) {
        socket.send(datagram, cfg.target.port, cfg.target.address, onSent);
        stats.sent++;
      }
      setTimeout(step, interval);
    };
    step();
  });
  await new Promise((r) => setTimeout(r, 300));
  print({ ...stats, elapsedMs: Date.now() - start });
  for (const s of sources) s.socket.close();
}

// ---------------------------------------------------------------------------- send

async function send(cfg: SendRole): Promise<void> {
  const socket = await bindSocket(cfg.target.address.includes(':') ? 'udp6' : 'udp4');
  const received: string[] = [];
  socket.on('message', (msg) => received.push(hex(msg)));
  for (const d of cfg.datagrams) {
    await new Promise<void>((resolve, reject) =>
      socket.send(unhex(d), cfg.target.port, cfg.target.address, (err) => (err ? reject(err) : resolve())),
    );
    if (cfg.gapMs) await new Promise((r) => setTimeout(r, cfg.gapMs));
  }
  await new Promise((r) => setTimeout(r, cfg.listenMs));
  print({ sent: cfg.datagrams.length, received, port: socket.address().port });
  socket.close();
}

// ----------------------------------------------------------------------------

const config = JSON.parse(process.argv[2] ?? '{}') as Role;
const roles: Record<Role['role'], (cfg: never) => Promise<void>> = { relay, fuzz, flood, send };
const run = roles[config.role];
if (!run) {
  process.stderr.write(`unknown role ${JSON.stringify(config.role)}\n`);
  process.exit(2);
}
run(config as never).then(
  () => {
    if (config.role !== 'relay') process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
