/**
 * Hardening, measured against the real daemon (`node dist/wgts.js up -f`) in network
 * namespaces this test creates: a million hostile datagrams, replays, a handshake flood
 * from many sources, an impaired path, kill -9 and restarts, roaming mid-transfer, and
 * key hygiene (logs, process arguments, the UAPI socket, file modes).
 *
 * Each test prints one `hardening: …` line with its figures; docs/security.md quotes
 * them. The exact protocol-time versions (fake clock: 180 s expiry, the replay window,
 * retry schedule, key erasure) are in test/unit/hardening.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  iperf3,
  ping,
  sleep,
  startWgts,
  waitFor,
  wgShowDump,
  wgtsBundlePath,
  UAPI_DIR,
  type TunnelHandle,
  type TwoSiteNetwork,
  type WgInterfaceConfig,
} from '../helpers/netns';
import {
  captured,
  count,
  cpuSeconds,
  dropSummary,
  INNER_A,
  INNER_B,
  linkPackets,
  runAttacker,
  sampleRss,
  startCapturedTunnel,
  startTunnel,
  udpCounters,
  WG_PORT,
  type Impairment,
} from './hardening/world';
import { MessageType } from '../../src/protocol/messages';
import { decodeKey } from '../../src/protocol/keys';
import { KEEPALIVE_TIMEOUT, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX } from '../../src/protocol/constants';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

function report(what: string, figures: Record<string, unknown>): void {
  process.stdout.write(`hardening: ${what}: ${JSON.stringify(figures)}\n`);
}

async function withNetwork<T>(body: (net: TwoSiteNetwork) => Promise<T>): Promise<T> {
  const net = await createTwoSiteNetwork();
  try {
    return await body(net);
  } finally {
    await net.cleanup();
  }
}

function alive(handle: TunnelHandle): void {
  assert.equal(handle.exitCode(), null, `${handle.ifname} crashed:\n${handle.stderr().slice(-3000)}`);
}

/** Stops a daemon and returns the drop summary it logs on the way out. */
async function stopAndSummarize(handle: TunnelHandle) {
  await handle.stop();
  return dropSummary(handle.stderr());
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const MiB = 1024;

// ---------------------------------------------------------------------------- 1. fuzz

const FUZZ_DATAGRAMS = 1_000_000;
/**
 * Below what one wgts process takes in on this class of machine (16-24k hostile datagrams/s
 * measured with 2 CPUs shared with the fuzzer), so the socket buffer rarely overflows and
 * nearly every datagram reaches the daemon's own counters; what the kernel does drop is
 * measured (RcvbufErrors), not guessed.
 */
const FUZZ_RATE = 12_000;

interface FuzzResult {
  sent: number;
  sendErrors: number;
  elapsedMs: number;
  byCategory: Record<string, number>;
  answers: number;
  seed: number;
}

test(`${FUZZ_DATAGRAMS} hostile datagrams while the tunnel carries traffic: no crash, bounded memory, nothing gets in, every one is accounted for`, { skip, timeout: 300_000 }, () =>
  withNetwork(async (net) => {
    const t = await startCapturedTunnel(net);
    for (const type of [MessageType.HandshakeInitiation, MessageType.HandshakeResponse, MessageType.TransportData]) {
      assert.ok(captured(t.capture.toA, type).length > 0, `captured a type ${type} message addressed to A`);
    }
    const captureFile = path.join(net.tempDir(), 'capture.json');
    // Messages addressed to A are the ones worth mutating; B's fail A's mac1 and index checks.
    fs.writeFileSync(captureFile, JSON.stringify({ valid: [...t.capture.toA, ...t.capture.toB] }));

    const udpBefore = await udpCounters(net, net.a.ns);
    const tunBefore = await linkPackets(net, net.a.ns, t.a.ifname);
    const rss = sampleRss(t.a.pid);
    const seconds = FUZZ_DATAGRAMS / FUZZ_RATE;
    const traffic = ping(net, net.a.ns, INNER_B, { count: Math.floor(seconds * 5), interval: 0.2, timeoutSec: Math.ceil(seconds) + 30 });
    const seed = (Date.now() & 0x7fffffff) | 1;
    const fuzz = await runAttacker<FuzzResult>(net, net.b.ns, {
      role: 'fuzz',
      target: { v4: net.a.ipv4, v6: net.a.ipv6, port: WG_PORT },
      count: FUZZ_DATAGRAMS,
      rate: FUZZ_RATE,
      captureFile,
      targetPublicKey: t.keysA.publicKey,
      seed,
    }, (seconds + 60) * 1000);
    const during = await traffic;
    const tunAfter = await linkPackets(net, net.a.ns, t.a.ifname);
    const udpAfter = await udpCounters(net, net.a.ns);
    alive(t.a);

    const afterwards = await ping(net, net.a.ns, INNER_B, { count: 5, interval: 0.2 });
    const throughput = await iperf3(net, net.b.ns, net.a.ns, INNER_B, { seconds: 2 });
    const samples = rss.stop();
    alive(t.a);
    alive(t.b);
    const summary = await stopAndSummarize(t.a);
    assert.ok(summary, 'the daemon logged its drop summary');

    const kernelDropped = udpAfter.rcvbufErrors - udpBefore.rcvbufErrors;
    const baseline = samples[0]!;
    const peak = Math.max(...samples);
    const injected = tunAfter.rx - tunBefore.rx - during.received;
    report('fuzz', {
      command: 'node --test --test-name-pattern=hostile build/test/integration/hardening.test.cjs',
      seed,
      tried: fuzz.sent,
      sendErrors: fuzz.sendErrors,
      seconds: fuzz.elapsedMs / 1000,
      byCategory: fuzz.byCategory,
      countedByDaemon: summary.total,
      droppedBySocketBuffer: kernelDropped,
      acceptedIntoTun: injected,
      dropReasons: summary.counts,
      answersToAttacker: fuzz.answers,
      pingDuring: `${during.received}/${during.transmitted}`,
      pingAfter: `${afterwards.received}/${afterwards.transmitted}`,
      iperfAfterMbit: +(throughput.bitsPerSecond / 1e6).toFixed(1),
      rssMiB: { baseline: +(baseline / MiB).toFixed(1), peak: +(peak / MiB).toFixed(1), end: +(samples.at(-1)! / MiB).toFixed(1) },
    });

    assert.ok(fuzz.sent >= FUZZ_DATAGRAMS, `the fuzzer sent ${fuzz.sent} datagrams`);
    for (const [category, n] of Object.entries(fuzz.byCategory)) assert.ok(n > 0, `fuzz category ${category} was exercised`);
    // Nothing forged reached A's TUN: every packet it delivered is an echo reply ping counted.
    assert.equal(injected, 0, `A's TUN received ${tunAfter.rx - tunBefore.rx} packets for ${during.received} echo replies`);
    // Every datagram is accounted for: counted by the daemon under a reason, or dropped by the
    // kernel at the full socket buffer. The few legitimate drops (e.g. noRoute) may add a little.
    assert.ok(summary.total + kernelDropped >= fuzz.sent, `${summary.total} counted + ${kernelDropped} dropped by the kernel < ${fuzz.sent} sent`);
    assert.ok(summary.total + kernelDropped <= fuzz.sent + 1000, `${summary.total} + ${kernelDropped} counted for ${fuzz.sent} sent: something was counted twice`);
    assert.ok(summary.total >= 0.99 * fuzz.sent, `the daemon itself counted ${summary.total} of ${fuzz.sent} (kernel dropped ${kernelDropped})`);
    // The fuzz reached every layer: parsing, mac1, the index table, the AEAD, the replay window,
    // the Noise handshake (valid mac1, garbage inside). Not the cookie path: at this rate the
    // daemon keeps up, so no backlog and no load; the handshake-flood test below covers cookies.
    for (const reason of ['malformedMessage', 'invalidMac1', 'unknownReceiverIndex', 'decryptionFailed', 'replayedCounter', 'handshakeRejected']) {
      assert.ok(count(summary, reason) > 0, `some datagrams were dropped as ${reason}: ${summary.line}`);
    }
    assert.ok(peak < 2 * baseline + 50 * MiB, `RSS peaked at ${peak} KiB from a baseline of ${baseline} KiB`);
    assert.ok(during.received >= 0.5 * during.transmitted, `traffic continued during the fuzz: ${during.received}/${during.transmitted}`);
    assert.equal(afterwards.received, afterwards.transmitted, `traffic after the fuzz:\n${afterwards.output}`);
    assert.ok(throughput.bitsPerSecond > 0);
  }));

// ---------------------------------------------------------------------------- 2. replay

interface SendResult {
  sent: number;
  received: string[];
  port: number;
}

test('replayed data, initiations and responses are rejected by the daemon and change nothing', { skip, timeout: 120_000 }, () =>
  withNetwork(async (net) => {
    const t = await startCapturedTunnel(net);
    const data = captured(t.capture.toA, MessageType.TransportData);
    const initiations = captured(t.capture.toA, MessageType.HandshakeInitiation);
    const responses = captured(t.capture.toA, MessageType.HandshakeResponse);
    assert.ok(data.length > 0 && initiations.length > 0 && responses.length > 0, 'captured every kind of message');

    const before = await wgShowDump(net, net.a.ns, t.a.ifname);
    const tunBefore = await linkPackets(net, net.a.ns, t.a.ifname);
    // From B's address but another port: accepting any of these would move A's endpoint for B here.
    const replay = await runAttacker<SendResult>(net, net.b.ns, {
      role: 'send',
      target: { address: net.a.ipv4, port: WG_PORT },
      datagrams: [...data, ...initiations, ...responses].map(hexOf),
      gapMs: 20,
      listenMs: 1500,
    });
    const after = await wgShowDump(net, net.a.ns, t.a.ifname);
    const tunAfter = await linkPackets(net, net.a.ns, t.a.ifname);
    const works = await ping(net, net.a.ns, INNER_B, { count: 3 });
    alive(t.a);
    const summary = await stopAndSummarize(t.a);
    report('replay', {
      replayed: { data: data.length, initiations: initiations.length, responses: responses.length },
      answers: replay.received.length,
      dropReasons: summary?.counts,
    });

    assert.deepEqual(replay.received, [], 'A answered none of the replays (no handshake response, no cookie)');
    assert.equal(tunAfter.rx, tunBefore.rx, 'no replayed packet reached A\'s TUN');
    const state = (d: typeof before) => d.peers.map((p) => ({ endpoint: p.endpoint, latestHandshake: p.latestHandshake }));
    assert.deepEqual(state(after), state(before), 'no new handshake, endpoint unchanged');
    assert.equal(count(summary, 'replayedCounter'), data.length, 'every replayed data packet hit the replay window');
    assert.equal(count(summary, 'replayedInitiation'), initiations.length, 'every replayed initiation failed the TAI64N check');
    assert.equal(count(summary, 'unknownReceiverIndex'), responses.length, 'a replayed response matches no pending handshake');
    assert.equal(works.received, 3, 'the tunnel is unaffected');
  }));

// ---------------------------------------------------------------------------- 3. handshake flood

interface FloodResult {
  sent: number;
  sendErrors: number;
  withMac2: number;
  cookieReplies: number;
  cookiesTaken: number;
  otherAnswers: number;
  elapsedMs: number;
}

const FLOOD_SOURCES = 64;
/** Of those, how many own their address and answer cookies (the rest are spoofed). */
const FLOOD_COOKIE_AWARE = 8;
/** Initiations per second: a moderate flood, and one near what a wgts process can answer. */
const FLOOD_RATES = [2000, 5000];
/**
 * The flood comes in bursts of this many initiations. "Under load" means a backlog of handshake
 * messages (as in wireguard-go and the Linux module), not a rate: a host that keeps up with a
 * steady 2000/s needs no cookies (a faster machine than ours did, at 57% of a core). A burst of
 * 512, built first and sent back to back, arrives faster than the responder drains it and leaves
 * well over 128 waiting, so every phase meets cookies.
 */
const FLOOD_BURST = 512;
const FLOOD_SECONDS = 22;

interface FloodPhase {
  rate: number;
  flood: FloodResult;
  daemonCpuShare: number;
  legitimateHandshakeSeconds: number;
  iperfMbit: number;
  iperfError?: string;
}

test(`handshake floods (${FLOOD_RATES.join(' and ')}/s in bursts of ${FLOOD_BURST}, from ${FLOOD_SOURCES} sources, ${FLOOD_COOKIE_AWARE} of them cookie-aware) meet cookies and the per-IP limiter; the real peer still gets through`, { skip, timeout: 240_000 }, () =>
  withNetwork(async (net) => {
    const t = await startTunnel(net, { bEndpointOfA: true });
    const sources: string[] = [];
    for (let i = 0; i < FLOOD_SOURCES; i++) {
      const address = `10.200.${net.subnet}.${100 + i}`;
      await net.addUnderlayAddress(net.b.ns, `${address}/24`);
      sources.push(address);
    }
    const first = await ping(net, net.b.ns, INNER_A, { count: 2, timeoutSec: 10 });
    assert.ok(first.received > 0, first.output);
    const quiet = await iperf3(net, net.a.ns, net.b.ns, INNER_A, { seconds: 5 });
    const wgB = (args: string[]) => net.exec(net.b.ns, ['wg', 'set', t.b.ifname, ...args], { check: true });

    const phases: FloodPhase[] = [];
    for (const rate of FLOOD_RATES) {
      const flood = runAttacker<FloodResult>(net, net.b.ns, {
        role: 'flood',
        sources,
        cookieAware: FLOOD_COOKIE_AWARE,
        target: { address: net.a.ipv4, port: WG_PORT },
        targetPublicKey: t.keysA.publicKey,
        rate,
        burst: FLOOD_BURST,
        durationMs: FLOOD_SECONDS * 1000,
      }, (FLOOD_SECONDS + 60) * 1000);
      await sleep(1000);
      // How much of one core the flood alone costs A (no tunnel traffic yet).
      const cpuStart = cpuSeconds(t.a.pid);
      await sleep(3000);
      const daemonCpuShare = (cpuSeconds(t.a.pid) - cpuStart) / 3;

      // B forgets A, as after a reboot: its next packet needs a fresh handshake, made under the flood.
      await wgB(['peer', t.keysA.publicKey, 'remove']);
      await wgB(['peer', t.keysA.publicKey, 'allowed-ips', `${INNER_A}/32`, 'endpoint', endpoint(net.a.ipv4, WG_PORT)]);
      const started = Date.now();
      await waitFor(`B to reach A through a new handshake under a ${rate}/s flood`, async () => {
        const r = await ping(net, net.b.ns, INNER_A, { count: 1, timeoutSec: 1 });
        return r.received === 1;
      }, 25_000, 0);
      const legitimateHandshakeSeconds = (Date.now() - started) / 1000;
      let iperfMbit = 0;
      let iperfError: string | undefined;
      try {
        iperfMbit = +((await iperf3(net, net.a.ns, net.b.ns, INNER_A, { seconds: 5 })).bitsPerSecond / 1e6).toFixed(1);
      } catch (err) {
        iperfError = (err as Error).message.split('\n')[0];
      }
      phases.push({ rate, flood: await flood, daemonCpuShare: +daemonCpuShare.toFixed(2), legitimateHandshakeSeconds, iperfMbit, ...(iperfError ? { iperfError } : {}) });
    }
    alive(t.a);
    const summary = await stopAndSummarize(t.a);
    const quietMbit = +(quiet.bitsPerSecond / 1e6).toFixed(1);
    report('handshake flood', {
      command: 'node --test --test-name-pattern="handshake flood" build/test/integration/hardening.test.cjs',
      iperfQuietMbit: quietMbit,
      phases: phases.map((p) => ({ ...p, throughputKept: +(p.iperfMbit / quietMbit).toFixed(3) })),
      dropReasons: summary?.counts,
    });

    for (const p of phases) {
      assert.ok(p.flood.sent >= p.rate * FLOOD_SECONDS * 0.9, `the ${p.rate}/s flood sent ${p.flood.sent} initiations`);
      assert.ok(p.flood.cookieReplies > 0, `cookie replies came back at ${p.rate}/s`);
      assert.ok(p.flood.cookiesTaken > 0 && p.flood.withMac2 > 0, 'the cookie-aware sources used their cookies');
      assert.ok(p.legitimateHandshakeSeconds < 25, 'the legitimate peer completed its handshake');
    }
    assert.ok(count(summary, 'cookieReplySent') > 0, 'under load, initiations without mac2 were answered with cookies');
    assert.ok(count(summary, 'rateLimited') > 0, 'initiations with a valid cookie met the per-IP limiter');
    assert.ok(phases[0]!.iperfMbit > 0, `the legitimate peer still moves data under a ${phases[0]!.rate}/s flood`);
  }));

// ---------------------------------------------------------------------------- 4. impaired links

/**
 * A fixed-size TCP transfer through the tunnel with an end-to-end check: the client sends
 * `bytes` random bytes, the server reports how many arrived and their SHA-256.
 */
async function transfer(net: TwoSiteNetwork, serverNs: string, clientNs: string, address: string, bytes: number, timeoutMs: number) {
  const port = 5202;
  const serverScript = `const h=require('crypto').createHash('sha256');let n=0;const srv=require('net').createServer(s=>{` +
    `s.on('data',d=>{h.update(d);n+=d.length});s.on('end',()=>{console.log(JSON.stringify({n,sha:h.digest('hex')}));s.end();srv.close()})})` +
    `.listen(${port},'0.0.0.0',()=>console.log('listening'))`;
  const clientScript = `const b=require('crypto').randomBytes(${bytes});const s=require('net').connect(${port},${JSON.stringify(address)},()=>s.end(b));` +
    `s.on('close',()=>console.log(JSON.stringify({sha:require('crypto').createHash('sha256').update(b).digest('hex')})));s.on('error',e=>{console.error(e.message);process.exit(1)})`;
  const server = net.spawn(serverNs, [process.execPath, '-e', serverScript]);
  let out = '';
  server.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await waitFor('the TCP sink to listen', () => out.includes('listening'), 5000);
    const started = Date.now();
    const r = await net.exec(clientNs, [process.execPath, '-e', clientScript], { timeoutMs });
    const seconds = (Date.now() - started) / 1000;
    await waitFor('the TCP sink to report', () => out.includes('"n"'), 10_000);
    const got = JSON.parse(out.split('\n').find((l) => l.includes('"n"'))!) as { n: number; sha: string };
    const sent = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { sha?: string };
    return { code: r.code, error: r.stderr, seconds, received: got.n, intact: got.sha === sent.sha, kbitPerSecond: Math.round((got.n * 8) / seconds / 1000) };
  } finally {
    await net.stop(server, 1000);
  }
}

const TRANSFER_BYTES = 2 * 1024 * 1024;
const NETEM = ['loss', '5%', 'reorder', '25%', '50%', 'duplicate', '1%', 'delay', '200ms'];
const NETEM_AS_RELAY: Impairment = { loss: 0.05, reorder: 0.25, reorderCorrelation: 0.5, duplicate: 0.01, delayMs: 200 };

test('tc netem (loss 5%, reorder 25% 50%, duplicate 1%, delay 200ms): TCP through the tunnel completes', { skip, timeout: 300_000 }, async (t) => {
  await withNetwork(async (net) => {
    const tc = await net.exec(net.a.ns, ['tc', 'qdisc', 'add', 'dev', net.a.veth, 'root', 'netem', ...NETEM]);
    if (tc.code !== 0) {
      if (/unknown/i.test(tc.stderr)) {
        t.skip(`this kernel has no sch_netem (tc: ${tc.stderr.trim()}); the relay-impaired test covers the same conditions in userspace`);
        return;
      }
      assert.fail(`tc failed: ${tc.stderr}`);
    }
    const tunnel = await startTunnel(net);
    const r = await transfer(net, net.b.ns, net.a.ns, INNER_B, TRANSFER_BYTES, 240_000);
    alive(tunnel.a);
    alive(tunnel.b);
    const summaryB = await stopAndSummarize(tunnel.b);
    report('netem', { ...r, dropReasonsB: summaryB?.counts });
    assert.equal(r.code, 0, r.error);
    assert.equal(r.received, TRANSFER_BYTES);
    assert.ok(r.intact, 'the bytes arrived intact');
  });
});

interface PathStats {
  received: number;
  forwarded: number;
  lost: number;
  duplicated: number;
  sentAtOnce: number;
}

test('an impaired path (the same netem figures, applied by a relay both ways): TCP completes and only duplicates are refused', { skip, timeout: 300_000 }, () =>
  withNetwork(async (net) => {
    const tunnel = await startCapturedTunnel(net, { impair: NETEM_AS_RELAY });
    const r = await transfer(net, net.b.ns, net.a.ns, INNER_B, TRANSFER_BYTES, 240_000);
    const relayed = await tunnel.relay.request<{ toA: PathStats; toB: PathStats }>('stats');
    alive(tunnel.a);
    alive(tunnel.b);
    const summaryA = await stopAndSummarize(tunnel.a);
    const summaryB = await stopAndSummarize(tunnel.b);
    report('impaired relay', { ...r, path: relayed, dropReasonsA: summaryA?.counts, dropReasonsB: summaryB?.counts });

    assert.equal(r.code, 0, r.error);
    assert.equal(r.received, TRANSFER_BYTES);
    assert.ok(r.intact, 'the bytes arrived intact');
    assert.ok(relayed.toB.sentAtOnce > 0 && relayed.toB.lost > 0, 'the path really reordered and lost packets');
    // Reordered packets inside the window are accepted: the only replays refused are duplicates.
    assert.ok(count(summaryB, 'replayedCounter') <= relayed.toB.duplicated, `B refused ${count(summaryB, 'replayedCounter')} replays for ${relayed.toB.duplicated} duplicates`);
    assert.ok(count(summaryA, 'replayedCounter') <= relayed.toA.duplicated, `A refused ${count(summaryA, 'replayedCounter')} replays for ${relayed.toA.duplicated} duplicates`);
    for (const summary of [summaryA, summaryB]) assert.equal(count(summary, 'decryptionFailed'), 0);
  }));

// ---------------------------------------------------------------------------- 5. faults

async function latestHandshake(net: TwoSiteNetwork, ns: string, ifname: string): Promise<number> {
  const r = await net.exec(ns, ['wg', 'show', ifname, 'latest-handshakes'], { check: true });
  return Number(r.stdout.trim().split(/\s+/)[1] ?? 0);
}

async function killAndRestart(net: TwoSiteNetwork, handle: TunnelHandle, config: WgInterfaceConfig): Promise<TunnelHandle> {
  process.kill(handle.pid, 'SIGKILL');
  // The TUN link goes once node is gone (with node's own descriptor when the module holds it, when the helper exits, or socat's guard removes it); the restart needs the name free.
  await waitFor(`${handle.ifname} to disappear`, async () => (await net.exec(handle.ns, ['ip', 'link', 'show', handle.ifname])).code !== 0, 10_000);
  return startWgts(net, handle.ns, handle.ifname, config);
}

test('kill -9 mid-transfer and restart: the tunnel re-establishes within the retry schedule', { skip, timeout: 180_000 }, () =>
  withNetwork(async (net) => {
    const tunnel = await startTunnel(net);
    const first = await ping(net, net.a.ns, INNER_B, { count: 2 });
    assert.ok(first.received > 0, first.output);

    // B (which only learned A's endpoint) dies mid-transfer. Only A can start the new
    // handshake, when its data goes unanswered for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT.
    const transferDone = iperf3(net, net.b.ns, net.a.ns, INNER_B, { seconds: 40 });
    await sleep(3000);
    const killedAt = Date.now();
    const b2 = await killAndRestart(net, tunnel.b, tunnel.configB);
    const restartSeconds = (Date.now() - killedAt) / 1000;
    await waitFor('traffic from A to the restarted B', async () => (await ping(net, net.a.ns, INNER_B, { count: 1, timeoutSec: 1 })).received === 1, 30_000, 0);
    const recoverBSeconds = (Date.now() - killedAt) / 1000;
    const result = await transferDone;

    // A (which knows B's endpoint) dies and restarts: its first packet starts a handshake at once.
    const killedAAt = Date.now();
    const a2 = await killAndRestart(net, tunnel.a, tunnel.configA);
    await waitFor('traffic from the restarted A', async () => (await ping(net, net.a.ns, INNER_B, { count: 1, timeoutSec: 1 })).received === 1, 30_000, 0);
    const recoverASeconds = (Date.now() - killedAAt) / 1000;
    alive(a2);
    alive(b2);
    const schedule = (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX) / 1000;
    report('kill -9', {
      command: 'node --test --test-name-pattern="kill -9" build/test/integration/hardening.test.cjs',
      restartSeconds,
      recoverySecondsAfterKillingB: recoverBSeconds,
      scheduleSeconds: schedule,
      recoverySecondsAfterKillingA: recoverASeconds,
      transferMbit: +(result.bitsPerSecond / 1e6).toFixed(1),
    });
    assert.ok(recoverBSeconds <= schedule + 2, `recovered ${recoverBSeconds} s after B was killed (schedule: ${schedule} s)`);
    assert.ok(recoverASeconds <= restartSeconds + 5, `recovered ${recoverASeconds} s after A was killed`);
    assert.ok(result.bitsPerSecond > 0, 'the TCP transfer survived the restart');
  }));

test('the underlay address changes mid-transfer: traffic follows (roaming)', { skip, timeout: 120_000 }, () =>
  withNetwork(async (net) => {
    const tunnel = await startTunnel(net);
    assert.ok((await ping(net, net.a.ns, INNER_B, { count: 2 })).received > 0);
    const transferDone = iperf3(net, net.b.ns, net.a.ns, INNER_B, { seconds: 8 });
    await sleep(2000);
    const moved = `10.200.${net.subnet}.77`;
    await net.moveUnderlay(net.a.ns, `${moved}/24`);
    const result = await transferDone;
    const dump = await wgShowDump(net, net.b.ns, tunnel.b.ifname);
    const intervals = (result.raw as { intervals: { sum: { start: number; bytes: number } }[] }).intervals;
    const bytesAfterMove = intervals.filter((i) => i.sum.start >= 4).reduce((s, i) => s + i.sum.bytes, 0);
    report('roaming', { endpointSeenByB: dump.peers[0]?.endpoint, bytesAfterMove, transferMbit: +(result.bitsPerSecond / 1e6).toFixed(1) });
    assert.equal(dump.peers[0]?.endpoint, `${moved}:${WG_PORT}`, 'B follows A to its new address');
    assert.ok(bytesAfterMove > 0, 'data kept flowing after the move');
  }));

// Real time, > 3 minutes: run with WGTS_SLOW_TESTS=1. The exact version is in test/unit/hardening.test.ts.
test('SLOW (~4 min): a peer gone for more than REJECT_AFTER_TIME (180 s) is reached again only through a new handshake', {
  skip: skip || (process.env.WGTS_SLOW_TESTS === '1' ? false : 'takes over 3 minutes; set WGTS_SLOW_TESTS=1'),
  timeout: 400_000,
}, () =>
  withNetwork(async (net) => {
    const tunnel = await startTunnel(net);
    assert.ok((await ping(net, net.a.ns, INNER_B, { count: 2 })).received > 0);
    const before = await latestHandshake(net, net.a.ns, tunnel.a.ifname);
    await net.exec(net.b.ns, ['ip', 'link', 'set', net.b.veth, 'down'], { check: true });
    const wentAt = Date.now();
    // A keeps wanting to talk (one probe every 5 s) while B is unreachable for 200 s.
    let answered = 0;
    while (Date.now() - wentAt < 200_000) {
      answered += (await ping(net, net.a.ns, INNER_B, { count: 1, timeoutSec: 1 })).received;
      await sleep(4000);
    }
    await net.exec(net.b.ns, ['ip', 'link', 'set', net.b.veth, 'up'], { check: true });
    assert.equal(answered, 0, 'B was really gone');
    const back = Date.now();
    await waitFor('traffic after the peer came back', async () => (await ping(net, net.a.ns, INNER_B, { count: 1, timeoutSec: 1 })).received === 1, 30_000, 0);
    const after = await latestHandshake(net, net.a.ns, tunnel.a.ifname);
    report('peer gone 200 s', { reconnectSeconds: (Date.now() - back) / 1000, handshakeAgeBefore: after - before });
    assert.ok(after - before >= 200, 'the old session was not reused: a new handshake carried the traffic');
  }));

// ---------------------------------------------------------------------------- 6. key hygiene

/** Every textual form a key could leak in: base64 (with and without padding) and hex. */
function keyForms(base64: string): string[] {
  const bytes = decodeKey(base64)!;
  return [base64, base64.replace(/=+$/, ''), Buffer.from(bytes).toString('hex')];
}

function assertNoKeys(where: string, text: string, secrets: string[]): void {
  for (const secret of secrets) {
    for (const form of keyForms(secret)) {
      assert.ok(!text.toLowerCase().includes(form.toLowerCase()), `${where} contains a secret key (${form.slice(0, 6)}…)`);
    }
  }
}

test('keys never appear in logs, process arguments or environments, files are private, and UAPI get is root-only', { skip, timeout: 120_000 }, () =>
  withNetwork(async (net) => {
    const psk = await genPsk();
    const env = { WGTS_LOG_LEVEL: 'debug' };
    const tunnel = await startTunnel(net, { psk, env, bEndpointOfA: true });
    assert.equal((await ping(net, net.a.ns, INNER_B, { count: 3 })).received, 3);
    // Change keys at runtime as an admin would, through wg(8): those must not leak either.
    const newPsk = await genPsk();
    const dir = net.tempDir();
    const pskFile = path.join(dir, 'psk');
    fs.writeFileSync(pskFile, `${newPsk}\n`, { mode: 0o600 });
    await net.exec(net.a.ns, ['wg', 'set', tunnel.a.ifname, 'peer', tunnel.keysB.publicKey, 'preshared-key', pskFile], { check: true });
    await net.exec(net.b.ns, ['wg', 'set', tunnel.b.ifname, 'peer', tunnel.keysA.publicKey, 'preshared-key', pskFile], { check: true });
    // B moves to another private key and back: both pass through UAPI set and the device.
    const spare = await genKeyPair();
    const keyFile = path.join(dir, 'key');
    fs.writeFileSync(keyFile, `${spare.privateKey}\n`, { mode: 0o600 });
    await net.exec(net.b.ns, ['wg', 'set', tunnel.b.ifname, 'private-key', keyFile], { check: true });
    fs.writeFileSync(keyFile, `${tunnel.keysB.privateKey}\n`, { mode: 0o600 });
    await net.exec(net.b.ns, ['wg', 'set', tunnel.b.ifname, 'private-key', keyFile], { check: true });
    assert.ok((await ping(net, net.b.ns, INNER_A, { count: 3, timeoutSec: 15 })).received > 0, 'tunnel works with the new pre-shared key');
    const secrets = [tunnel.keysA.privateKey, tunnel.keysB.privateKey, psk, newPsk, spare.privateKey];

    // Process arguments and environment of everything running in the namespaces (node and its TUN bridge: wgts-tun, or socat and its guard).
    let processes = 0;
    for (const ns of [net.a.ns, net.b.ns]) {
      const pids = (await net.exec(ns, ['ip', 'netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        for (const file of ['cmdline', 'environ']) {
          let text: string;
          try {
            text = fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').replace(/\0/g, ' ');
          } catch {
            continue; // exited meanwhile
          }
          assertNoKeys(`/proc/${pid}/${file} (${text.slice(0, 60)})`, text, secrets);
        }
        processes++;
      }
    }
    assert.ok(processes >= 4, `looked at ${processes} processes (two daemons and their TUN bridges)`);

    // The UAPI socket: root gets the keys (the cross-platform spec requires it); nobody else connects.
    for (const handle of [tunnel.a, tunnel.b]) {
      const sock = path.join(UAPI_DIR, `${handle.ifname}.sock`);
      const st = fs.statSync(sock);
      assert.equal(st.uid, 0);
      assert.equal(st.mode & 0o077, 0, `${sock} is mode ${(st.mode & 0o777).toString(8)}`);
    }
    const rootView = await net.exec(net.a.ns, ['wg', 'show', tunnel.a.ifname, 'private-key'], { check: true });
    assert.equal(rootView.stdout.trim(), tunnel.keysA.privateKey, 'root reads the private key over UAPI, as wg(8) expects');
    assert.throws(() => assertNoKeys('control', rootView.stdout, secrets), 'the leak check does find a key where there is one');
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
    const nobodyWg = await net.exec(net.a.ns, [...asNobody, 'wg', 'showconf', tunnel.a.ifname]);
    assert.notEqual(nobodyWg.code, 0, 'wg showconf as nobody fails');
    assertNoKeys('wg showconf as nobody', nobodyWg.stdout + nobodyWg.stderr, secrets);
    const probe = `require('net').connect(${JSON.stringify(path.join(UAPI_DIR, `${tunnel.a.ifname}.sock`))})` +
      `.on('connect',function(){console.log('CONNECTED');this.end('get=1\\n\\n')}).on('data',d=>process.stdout.write(d)).on('error',e=>console.log(e.code))`;
    const nobodyConnect = await net.exec(net.a.ns, [...asNobody, process.execPath, '-e', probe]);
    assert.match(nobodyConnect.stdout, /EACCES/, `nobody cannot connect to the UAPI socket: ${nobodyConnect.stdout}${nobodyConnect.stderr}`);
    assertNoKeys('UAPI as nobody', nobodyConnect.stdout, secrets);

    for (const handle of [tunnel.a, tunnel.b]) {
      await handle.stop();
      const log = handle.stdout() + handle.stderr();
      assert.match(log, / debug: /, 'the daemon logged at debug level');
      assertNoKeys(`${handle.ifname}'s log`, log, secrets);
    }

    // Daemonized (`wgts up` without -f): the files it creates, and its log file.
    const runDir = path.join(dir, 'run');
    const logDir = path.join(dir, 'log');
    fs.mkdirSync(logDir);
    const daemonEnv = { WGTS_LOG_LEVEL: 'debug', WGTS_RUN_DIR: runDir, WGTS_LOG_DIR: logDir };
    const name = `${tunnel.a.ifname}d`.slice(-15);
    const conf = path.join(dir, `${name}.conf`);
    fs.writeFileSync(conf, `[Interface]\nPrivateKey = ${tunnel.keysA.privateKey}\nListenPort = 51899\nAddress = 10.98.0.1/24\n\n[Peer]\nPublicKey = ${tunnel.keysB.publicKey}\nPresharedKey = ${psk}\nAllowedIPs = 10.98.0.2/32\nEndpoint = ${endpoint(net.b.ipv4, 51899)}\n`, { mode: 0o600 });
    const up = await net.exec(net.a.ns, [process.execPath, wgtsBundlePath(), 'up', conf], { env: daemonEnv, timeoutMs: 30_000 });
    assert.equal(up.code, 0, up.stderr);
    await net.exec(net.a.ns, ['ping', '-c', '1', '-W', '1', '10.98.0.2']); // some debug logging; no answer expected
    const logFile = path.join(logDir, `wgts-${name}.log`);
    /** Every file wgts created: no key inside, and the log private to root. */
    const checkFiles = (when: string): string[] => {
      const created: string[] = [];
      for (const d of [runDir, logDir]) {
        if (!fs.existsSync(d)) continue;
        for (const entry of fs.readdirSync(d)) created.push(path.join(d, entry));
      }
      assert.ok(created.includes(logFile), `${when}: the daemon logged to ${logFile}: ${created.join(', ')}`);
      return created.map((file) => {
        const st = fs.statSync(file);
        if (st.isFile()) assertNoKeys(`${file} (${when})`, fs.readFileSync(file, 'utf8'), secrets);
        if (file === logFile) assert.equal(st.mode & 0o077, 0, `${file} is mode ${(st.mode & 0o777).toString(8)}`);
        return `${path.basename(file)} ${(st.mode & 0o777).toString(8)}`;
      });
    };
    const whileRunning = checkFiles('while running');
    const down = await net.exec(net.a.ns, [process.execPath, wgtsBundlePath(), 'down', conf], { env: daemonEnv, timeoutMs: 30_000 });
    assert.equal(down.code, 0, down.stderr);
    assertNoKeys('wgts up/down output', up.stdout + up.stderr + down.stdout + down.stderr, secrets);
    const afterDown = checkFiles('after down');
    report('key hygiene', { processesChecked: processes, filesWhileRunning: whileRunning, filesAfterDown: afterDown });
  }));
