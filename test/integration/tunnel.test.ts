/**
 * wgts as a real WireGuard peer: real TUN devices in namespaces this test creates,
 * the real wireguard-go (configured with the real wg) on the other side, ping and
 * iperf3 for traffic. Each scenario builds its own two-site network and tears it
 * down (namespaces, processes by PID) whatever happens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  iperf3,
  ping,
  startWgts,
  startWireguardGo,
  uniqueIfname,
  waitFor,
  wgShowDump,
  type KeyPair,
  type TunnelHandle,
  type TwoSiteNetwork,
  type WgInterfaceConfig,
} from '../helpers/netns';
import { commandsIn, maps } from '../helpers/tun-backends';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';
const PORT_A = 51820;
const PORT_B = 51821;

type Impl = 'wgts' | 'wireguard-go';

interface Pair {
  net: TwoSiteNetwork;
  a: TunnelHandle;
  b: TunnelHandle;
  keys: { a: KeyPair; b: KeyPair };
}

/** Office A (10.99.0.1, fd99::1) and office B (10.99.0.2, fd99::2), each knowing the other's endpoint unless told otherwise. */
async function twoOffices(
  net: TwoSiteNetwork,
  implA: Impl,
  implB: Impl,
  opts: { psk?: boolean; underlay?: 4 | 6; endpointForA?: string | null; endpointForB?: string | null; keepaliveA?: number; socatB?: boolean } = {},
): Promise<Pair> {
  const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
  const psk = opts.psk ? await genPsk() : undefined;
  const v6 = opts.underlay === 6;
  const endpointOfB = opts.endpointForA === undefined ? endpoint(v6 ? net.b.ipv6 : net.b.ipv4, PORT_B) : opts.endpointForA;
  const endpointOfA = opts.endpointForB === undefined ? endpoint(v6 ? net.a.ipv6 : net.a.ipv4, PORT_A) : opts.endpointForB;
  const configA: WgInterfaceConfig = {
    privateKey: ka.privateKey,
    listenPort: PORT_A,
    addresses: ['10.99.0.1/24', 'fd99::1/64'],
    mtu: 1420,
    peers: [{
      publicKey: kb.publicKey,
      presharedKey: psk,
      allowedIps: ['10.99.0.2/32', 'fd99::2/128'],
      ...(endpointOfB ? { endpoint: endpointOfB } : {}),
      ...(opts.keepaliveA ? { persistentKeepalive: opts.keepaliveA } : {}),
    }],
  };
  const configB: WgInterfaceConfig = {
    privateKey: kb.privateKey,
    listenPort: PORT_B,
    addresses: ['10.99.0.2/24', 'fd99::2/64'],
    mtu: 1420,
    peers: [{
      publicKey: ka.publicKey,
      presharedKey: psk,
      allowedIps: ['10.99.0.1/32', 'fd99::1/128'],
      ...(endpointOfA ? { endpoint: endpointOfA } : {}),
    }],
  };
  // Debug logs cost nothing here and are printed only when a test fails.
  const start = (impl: Impl, ns: string, name: string, config: WgInterfaceConfig, env: Record<string, string> = {}) =>
    impl === 'wgts' ? startWgts(net, ns, name, config, { env: { WGTS_LOG_LEVEL: 'debug', ...env } }) : startWireguardGo(net, ns, name, config);
  const a = await start(implA, net.a.ns, uniqueIfname('wga'), configA);
  const b = await start(implB, net.b.ns, uniqueIfname('wgb'), configB, opts.socatB ? { WGTS_TUN_BACKEND: 'socat', WGTS_UDP_BACKEND: 'dgram', WGTS_AEAD: 'wasm', WGTS_X25519: 'openssl', WGTS_BLAKE2S: 'openssl' } : {});
  return { net, a, b, keys: { a: ka, b: kb } };
}

/** Runs `body` with a fresh two-site network, always cleaning up and showing daemon logs on failure. */
async function withNetwork(body: (net: TwoSiteNetwork, handles: TunnelHandle[]) => Promise<void>): Promise<void> {
  const net = await createTwoSiteNetwork();
  const handles: TunnelHandle[] = [];
  try {
    await body(net, handles);
  } catch (err) {
    const logs = handles.map((h) => `--- ${h.kind} ${h.ifname} ---\n${h.stderr().slice(-3000)}`).join('\n');
    (err as Error).message += `\n${logs}`;
    throw err;
  } finally {
    await net.cleanup();
  }
}

async function assertPings(net: TwoSiteNetwork, from: string, to: string, count = 3): Promise<void> {
  const r = await ping(net, from, to, { count, interval: 0.1, timeoutSec: 8 });
  assert.equal(r.received, count, `ping ${from} → ${to}\n${r.output}`);
}

/** The first packet waits for the handshake, so it gets a generous deadline. */
async function assertFirstContact(net: TwoSiteNetwork, from: string, to: string): Promise<void> {
  const r = await ping(net, from, to, { count: 1, timeoutSec: 15 });
  assert.ok(r.received >= 1, `first ping ${from} → ${to}\n${r.output}`);
}

async function assertIperfBothWays(net: TwoSiteNetwork, clientNs: string, serverNs: string, serverAddress: string): Promise<void> {
  for (const reverse of [false, true]) {
    const r = await iperf3(net, serverNs, clientNs, serverAddress, { seconds: 2, reverse });
    // Not a speed assertion: a TCP stream must complete and carry real data (> 1 MB in 2 s).
    assert.ok(r.bitsPerSecond * 2 > 8e6, `iperf3 ${reverse ? 'reverse' : 'forward'} moved only ${r.bitsPerSecond} bit/s`);
  }
}

/** The short names (comm) of the processes running in a namespace. */
test('wgts ↔ wgts over an IPv4 underlay (one site on each TUN backend): handshake, ping v4/v6 both ways, iperf3 TCP both ways', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    // A takes the default backends (the wgts-tun.node module `make build` puts beside the
    // bundle, loaded into node, for the TUN, the UDP socket, the transport cipher and X25519);
    // B is forced onto the socat bridge, node's dgram, the wasm cipher and node:crypto's
    // X25519, what runs where neither the module nor the helper is installed (the helper:
    // pipe-tun.test.ts).
    const { a, b } = await twoOffices(net, 'wgts', 'wgts', { socatB: true });
    handles.push(a, b);
    const [inA, inB] = [await commandsIn(net, net.a.ns), await commandsIn(net, net.b.ns)];
    assert.ok(maps(a.pid, 'wgts-tun.node') && !inA.includes('wgts-tun') && !inA.includes('socat'), `A's node holds the TUN: ${inA.join(', ')}`);
    assert.ok(inB.includes('socat') && !inB.includes('wgts-tun') && !maps(b.pid, 'wgts-tun.node'), `B runs socat: ${inB.join(', ')}`);
    assert.match(a.stderr(), /info: .*UDP through .*wgts-tun\.node/, a.stderr());
    assert.match(b.stderr(), /info: .*UDP through node's dgram \(WGTS_UDP_BACKEND=dgram\)/, b.stderr());
    // The up line comes after the routes, so a daemon may still be on its way to it when
    // its link is ready.
    await waitFor('both up lines', () => /: up, listening/.test(a.stderr()) && /: up, listening/.test(b.stderr()), 10_000);
    assert.match(a.stderr(), /crypto native \(X25519: node's OpenSSL through wgts-tun\.node, BLAKE2s: node's OpenSSL through wgts-tun\.node, transport: node's OpenSSL through wgts-tun\.node\)/, a.stderr());
    assert.match(b.stderr(), /crypto native \(X25519: node:crypto, BLAKE2s: node:crypto, transport: libsodium wasm\)/, b.stderr());
    // Each allowed IP got its route on the interface (installed in one `ip -batch`).
    const routes = (await net.exec(net.a.ns, ['ip', 'route', 'show', 'dev', a.ifname])).stdout
      + (await net.exec(net.a.ns, ['ip', '-6', 'route', 'show', 'dev', a.ifname])).stdout;
    assert.match(routes, /^10\.99\.0\.2 /m, routes);
    assert.match(routes, /^fd99::2 /m, routes);
    await assertFirstContact(net, net.a.ns, '10.99.0.2');
    await assertPings(net, net.b.ns, '10.99.0.1');
    await assertPings(net, net.a.ns, 'fd99::2');
    await assertPings(net, net.b.ns, 'fd99::1');
    await assertIperfBothWays(net, net.a.ns, net.b.ns, '10.99.0.2');
    await assertIperfBothWays(net, net.b.ns, net.a.ns, 'fd99::1');
  });
});

test('wgts initiates to wireguard-go over an IPv6 underlay with a pre-shared key', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    const { a, b, keys } = await twoOffices(net, 'wgts', 'wireguard-go', { psk: true, underlay: 6, endpointForB: null });
    handles.push(a, b);
    await assertFirstContact(net, net.a.ns, '10.99.0.2');
    await assertPings(net, net.b.ns, '10.99.0.1');
    await assertPings(net, net.a.ns, 'fd99::2');
    await assertPings(net, net.b.ns, 'fd99::1');
    await assertIperfBothWays(net, net.a.ns, net.b.ns, 'fd99::2');
    // wireguard-go learned wgts's endpoint from the handshake (it had none configured).
    const dump = await wgShowDump(net, net.b.ns, b.ifname);
    const peer = dump.peers.find((p) => p.publicKey === keys.a.publicKey)!;
    assert.equal(peer.endpoint, `[${net.a.ipv6}]:${PORT_A}`);
    assert.ok(peer.latestHandshake > 0, 'wireguard-go reports a handshake');
    assert.ok(peer.presharedKey, 'PSK configured on the reference side');
  });
});

test('wireguard-go initiates to wgts over an IPv4 underlay with a pre-shared key', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    // wgts (A) has no endpoint for B: it can only answer, so wireguard-go must initiate.
    const { a, b } = await twoOffices(net, 'wgts', 'wireguard-go', { psk: true, endpointForA: null });
    handles.push(a, b);
    await assertFirstContact(net, net.b.ns, '10.99.0.1');
    await assertPings(net, net.a.ns, '10.99.0.2');
    await assertPings(net, net.b.ns, 'fd99::1');
    await assertIperfBothWays(net, net.b.ns, net.a.ns, '10.99.0.1');
  });
});

test('a wrong pre-shared key never completes a handshake with wireguard-go', { skip, timeout: 60_000 }, async () => {
  await withNetwork(async (net, handles) => {
    const { a, b, keys } = await twoOffices(net, 'wgts', 'wireguard-go', { psk: true });
    handles.push(a, b);
    const otherPsk = `${net.tempDir()}/other.psk`;
    fs.writeFileSync(otherPsk, (await genPsk()) + '\n', { mode: 0o600 });
    await net.exec(net.b.ns, ['wg', 'set', b.ifname, 'peer', keys.a.publicKey, 'preshared-key', otherPsk], { check: true });
    const r = await ping(net, net.a.ns, '10.99.0.2', { count: 2, interval: 0.5, timeoutSec: 4 });
    assert.equal(r.received, 0, 'no traffic with mismatched PSKs');
    const dump = await wgShowDump(net, net.b.ns, b.ifname);
    assert.equal(dump.peers[0]!.latestHandshake, 0);
  });
});

test('roaming: wgts follows a peer that moves to a new underlay address mid-traffic', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    const { a, b } = await twoOffices(net, 'wgts', 'wgts');
    handles.push(a, b);
    await assertFirstContact(net, net.a.ns, '10.99.0.2');

    // A keeps sending while B moves; B speaking first from its new address tells A where it went.
    const background = ping(net, net.a.ns, '10.99.0.2', { count: 60, interval: 0.1, timeoutSec: 12 });
    await new Promise((r) => setTimeout(r, 1000));
    await net.moveUnderlay(net.b.ns, `10.200.${net.subnet}.3/24`);
    await assertPings(net, net.b.ns, '10.99.0.1');
    await assertPings(net, net.a.ns, '10.99.0.2'); // only works if A now sends to the new address
    const during = await background;
    assert.ok(during.received >= 30, `traffic resumed after the move (${during.received}/60 echoes)`);
  });
});

test('roaming: wireguard-go follows wgts to a new underlay address mid-traffic', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    const { a, b, keys } = await twoOffices(net, 'wgts', 'wireguard-go');
    handles.push(a, b);
    await assertFirstContact(net, net.a.ns, '10.99.0.2');
    const background = ping(net, net.b.ns, '10.99.0.1', { count: 60, interval: 0.1, timeoutSec: 12 });
    await new Promise((r) => setTimeout(r, 1000));
    const newA = `10.200.${net.subnet}.4`;
    await net.moveUnderlay(net.a.ns, `${newA}/24`);
    await assertPings(net, net.a.ns, '10.99.0.2');
    const during = await background;
    assert.ok(during.received >= 30, `traffic resumed after the move (${during.received}/60 echoes)`);
    const dump = await wgShowDump(net, net.b.ns, b.ifname);
    const peer = dump.peers.find((p) => p.publicKey === keys.a.publicKey)!;
    assert.equal(peer.endpoint, `${newA}:${PORT_A}`, 'wireguard-go updated the endpoint from our authenticated packets');
  });
});

test('an endpoint host name is re-resolved while handshakes fail (dynamic DNS)', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, handles) => {
    // `ip netns exec` shows /etc/netns/NS/hosts as /etc/hosts inside the namespace.
    const hostsDir = `/etc/netns/${net.a.ns}`;
    fs.mkdirSync(hostsDir, { recursive: true });
    net.onCleanup(() => fs.rmSync(hostsDir, { recursive: true, force: true }));
    const hosts = `${hostsDir}/hosts`;
    const wrong = `10.200.${net.subnet}.9`; // nobody there
    fs.writeFileSync(hosts, `127.0.0.1 localhost\n${wrong} office-b.wgts.test\n`);

    const { a, b } = await twoOffices(net, 'wgts', 'wireguard-go', { endpointForA: `office-b.wgts.test:${PORT_B}`, endpointForB: null });
    handles.push(a, b);
    const first = ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 40 });
    await new Promise((r) => setTimeout(r, 1500));
    // The office's address changes in DNS (rewritten in place: the bind mount follows the inode).
    fs.writeFileSync(hosts, `127.0.0.1 localhost\n${net.b.ipv4} office-b.wgts.test\n`);
    const r = await first;
    assert.ok(r.received >= 1, `the staged pings went through once the name re-resolved\n${r.output}`);
    await assertPings(net, net.b.ns, '10.99.0.1');
  });
});

test('deleting the TUN link stops the wgts daemon', { skip, timeout: 60_000 }, async () => {
  await withNetwork(async (net, handles) => {
    const { a, b } = await twoOffices(net, 'wgts', 'wgts');
    handles.push(a, b);
    await assertFirstContact(net, net.a.ns, '10.99.0.2');
    await net.exec(net.a.ns, ['ip', 'link', 'del', a.ifname], { check: true });
    await waitFor('wgts daemon exit', () => a.exitCode() !== null, 5000);
    assert.equal(a.exitCode(), 0);
  });
});
