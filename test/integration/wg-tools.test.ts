/**
 * wg(8) and wg-quick(8) from wireguard-tools drive the wgts daemon exactly as
 * they drive wireguard-go (issue 3). Every scenario runs the real tools against
 * a wgts daemon and, in the same test, against Debian's wireguard-go set up the
 * same way, then compares what the tools report. Namespaces, daemons and temp
 * files come from test/helpers/netns.ts, which removes them on every exit path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as netSocket from 'node:net';
import * as path from 'node:path';
import {
  UAPI_DIR,
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  genPsk,
  ping,
  sleep,
  startWgts,
  startWireguardGo,
  uniqueIfname,
  waitFor,
  wgShowDump,
  wgtsBundlePath,
  type ExecResult,
  type KeyPair,
  type TunnelHandle,
  type TwoSiteNetwork,
  type WgDumpPeer,
} from '../helpers/netns';
import { rawExchange } from '../helpers/uapi-client';
import { answers } from '../../src/platform/node/unix-socket';

const TOOLS = ['/usr/bin/wg', '/usr/bin/wg-quick', '/usr/bin/wireguard-go', '/usr/bin/socat'];
const missingTool = TOOLS.find((tool) => !fs.existsSync(tool));
const skip =
  process.getuid?.() !== 0
    ? 'needs root for network namespaces and /var/run/wireguard'
    : missingTool
      ? `needs ${missingTool}`
      : !fs.existsSync(wgtsBundlePath())
        ? 'needs the wgts bundle (make build)'
        : false;

type Kind = 'wgts' | 'wireguard-go';

// ---------------------------------------------------------------------------
// Daemons started empty, for wg(8) to configure

interface Daemon {
  readonly kind: Kind;
  readonly ns: string;
  readonly ifname: string;
  readonly socket: string;
  exitCode(): number | null;
  log(): string;
}

function socketOf(ifname: string): string {
  return path.join(UAPI_DIR, `${ifname}.sock`);
}


/**
 * `wgts -f IFACE` or `wireguard-go -f IFACE`: an interface with no key, port or
 * peers, as wg-quick starts it. The link is then set up by hand on both, because
 * wireguard-go only sends once its link is up.
 */
async function startEmpty(net: TwoSiteNetwork, kind: Kind, ns: string, ifname: string): Promise<Daemon> {
  const argv = kind === 'wgts' ? [process.execPath, wgtsBundlePath(), '-f', ifname] : ['wireguard-go', '-f', ifname];
  const child = net.spawn(ns, argv, { env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' } });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exitCode = (): number | null => child.exitCode ?? (child.signalCode ? 128 : null);
  const socket = socketOf(ifname);
  // Runs after every process is gone: a daemon killed with SIGKILL leaves its (uniquely named) socket.
  net.onCleanup(() => fs.rmSync(socket, { force: true }));
  await waitFor(`${kind} socket ${socket}`, async () => {
    if (exitCode() !== null) throw new Error(`${kind} exited with ${exitCode()}:\n${log}`);
    return fs.existsSync(socket) && (await answers(socket));
  }, 10_000);
  await net.exec(ns, ['ip', 'link', 'set', 'dev', ifname, 'up'], { check: true });
  return { kind, ns, ifname, socket, exitCode, log: () => log };
}

// ---------------------------------------------------------------------------
// Running the tools

async function wg(net: TwoSiteNetwork, ns: string, args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  return net.exec(ns, ['wg', ...args], { timeoutMs });
}

async function wgOk(net: TwoSiteNetwork, ns: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await wg(net, ns, args, timeoutMs);
  assert.equal(r.code, 0, `wg ${args.join(' ')} in ${ns} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A file only root can read (wg warns about world-readable keys and configs). */
function privateFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** Runs argv in a namespace the two-site fixture does not own (the third one a test makes). */
function execIn(ns: string, argv: readonly string[], timeoutMs = 20_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, ...argv], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ stdout, stderr, code, signal: (error?.signal as NodeJS.Signals | undefined) ?? null });
    });
  });
}

async function execInOk(ns: string, argv: readonly string[]): Promise<string> {
  const r = await execIn(ns, argv);
  assert.equal(r.code, 0, `${argv.join(' ')} in ${ns} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A namespace of our own, deleted by the fixture's cleanup after every process is gone. */
async function extraNamespace(net: TwoSiteNetwork, suffix: string): Promise<string> {
  const ns = `wgts-${process.pid}-${randomBytes(3).toString('hex')}-${suffix}`;
  const r = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
  net.onCleanup(() => {
    // A TUN moved in here belongs to a daemon that is gone by now, so this deletes nothing else.
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });
  await execInOk(ns, ['ip', 'link', 'set', 'lo', 'up']);
  return ns;
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** PIDs of the processes called comm running in namespace ns. */
function pidsNamed(ns: string, comm: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

// ---------------------------------------------------------------------------
// Normalising tool output: what legitimately differs between two implementations

const PREFIX_LIST = /^[0-9a-f.:]+\/\d+(?:(?:, |,| )[0-9a-f.:]+\/\d+)*$/;

/** Sorts an allowed-IPs list: wireguard-go keeps insertion order, wgts trie order (both valid). */
function sortPrefixList(list: string): string {
  const sep = list.includes(', ') ? ', ' : list.includes(',') ? ',' : ' ';
  return list.split(sep).sort().join(sep);
}

/**
 * Any `wg show`/`wg showconf` output in a form that compares equal between
 * implementations: the interface name replaced, allowed-IP lists sorted, and
 * peers sorted (wg lists them in the daemon's order: a Go map's for wireguard-go).
 */
function canonical(text: string, ifname: string): string {
  const lines = text.split('\n').map((line) => {
    line = line.split(ifname).join('IFACE');
    const m = /^(\s*allowed ips: |AllowedIPs = )(.+)$/.exec(line);
    if (m && PREFIX_LIST.test(m[2]!)) return m[1]! + sortPrefixList(m[2]!);
    if (line.includes('\t')) return line.split('\t').map((f) => (PREFIX_LIST.test(f) ? sortPrefixList(f) : f)).join('\t');
    return line;
  });
  const paragraphs = lines.join('\n').split('\n\n');
  if (text.startsWith('interface: ') || text.startsWith('[Interface]')) {
    // `wg show` and `wg showconf`: the interface paragraph, then one per peer.
    const [head, ...peers] = paragraphs.map((p) => p.replace(/\n+$/, ''));
    return [head, ...peers.sort()].join('\n\n');
  }
  // Tab-separated views: one line per peer (after the interface line for dump).
  const rows = paragraphs[0]!.split('\n').filter(Boolean);
  const first = rows[0]?.split('\t').length === 4 ? [rows.shift()!] : [];
  return [...first, ...rows.sort()].join('\n');
}

/** Every view `wg show IFACE ...` has, plus `wg showconf IFACE`. */
const VIEWS: readonly (readonly string[])[] = [
  ['show'],
  ...['dump', 'private-key', 'public-key', 'listen-port', 'fwmark', 'peers', 'endpoints', 'allowed-ips', 'latest-handshakes',
    'transfer', 'persistent-keepalive', 'preshared-keys'].map((view) => ['show', view]),
  ['showconf'],
];

function argsFor(view: readonly string[], ifname: string): string[] {
  return [view[0]!, ifname, ...view.slice(1)];
}

/** A port each daemon picked at random (before any listen-port is set) reads as PORT. */
function maskPort(text: string, port: string): string {
  return text.replace(new RegExp(`(^|\\t|: |= )${port}(?=$|\\t|\\n)`, 'gm'), '$1PORT');
}

/** The same `wg` views from both daemons must match. */
async function assertSameViews(net: TwoSiteNetwork, ours: Daemon, theirs: Daemon, step: string, { randomPort = false } = {}): Promise<void> {
  const port = async (d: Daemon) => (randomPort ? (await wgOk(net, d.ns, ['show', d.ifname, 'listen-port'])).trim() : '');
  const [portA, portB] = await Promise.all([port(ours), port(theirs)]);
  for (const view of VIEWS) {
    const [a, b] = await Promise.all([
      wg(net, ours.ns, argsFor(view, ours.ifname)),
      wg(net, theirs.ns, argsFor(view, theirs.ifname)),
    ]);
    const what = `after ${step}: wg ${view.join(' ')}`;
    assert.equal(a.code, b.code, `${what}: exit codes differ\nwgts: ${a.stderr}\nwireguard-go: ${b.stderr}`);
    let [textA, textB] = [canonical(a.stdout, ours.ifname), canonical(b.stdout, theirs.ifname)];
    if (randomPort) [textA, textB] = [maskPort(textA, portA), maskPort(textB, portB)];
    assert.equal(textA, textB, what);
  }
}

/** Runs the same wg command line (IFACE replaced) on both; results must agree. */
async function sameCommand(net: TwoSiteNetwork, ours: Daemon, theirs: Daemon, args: readonly string[]): Promise<ExecResult> {
  const run = (d: Daemon) => wg(net, d.ns, args.map((arg) => (arg === 'IFACE' ? d.ifname : arg)));
  const [a, b] = await Promise.all([run(ours), run(theirs)]);
  const what = `wg ${args.join(' ')}`;
  assert.equal(a.code, b.code, `${what}: exit codes differ\nwgts: ${a.stderr}\nwireguard-go: ${b.stderr}`);
  assert.equal(a.stderr.split(ours.ifname).join('IFACE'), b.stderr.split(theirs.ifname).join('IFACE'), `${what}: messages differ`);
  return a;
}

/** Runs body with a fresh two-site network and always tears it down, adding daemon logs to a failure. */
async function withNetwork(body: (net: TwoSiteNetwork, logs: (() => string)[]) => Promise<void>): Promise<void> {
  const net = await createTwoSiteNetwork();
  const logs: (() => string)[] = [];
  try {
    await body(net, logs);
  } catch (err) {
    (err as Error).message += `\n${logs.map((log) => log().slice(-4000)).join('\n')}`;
    throw err;
  } finally {
    await net.cleanup();
  }
}

function handleLog(h: TunnelHandle): () => string {
  return () => `--- ${h.kind} ${h.ifname} ---\n${h.stderr()}${h.stdout()}`;
}

function daemonLog(d: Daemon): () => string {
  return () => `--- ${d.kind} ${d.ifname} ---\n${d.log()}`;
}

// ---------------------------------------------------------------------------
// 1. Every wg(8) command, wgts next to wireguard-go

test('wg show/showconf/set/setconf/addconf/syncconf give the same answers from wgts and wireguard-go', { skip, timeout: 120_000 }, async () => {
  await withNetwork(async (net, logs) => {
    const ours = await startEmpty(net, 'wgts', net.a.ns, uniqueIfname('wgt'));
    logs.push(daemonLog(ours));
    const theirs = await startEmpty(net, 'wireguard-go', net.b.ns, uniqueIfname('wgg'));
    logs.push(daemonLog(theirs));
    const dir = net.tempDir();
    const [me, p1, p2, p3, p4, p5] = await Promise.all(Array.from({ length: 6 }, () => genKeyPair()));
    const psk = await genPsk();
    const keyFile = privateFile(dir, 'key', `${me!.privateKey}\n`);
    const pskFile = privateFile(dir, 'psk', `${psk}\n`);

    await assertSameViews(net, ours, theirs, 'start (empty)', { randomPort: true });

    // Endpoints in TEST-NET ranges, and keepalives only on peers without an endpoint:
    // nothing is ever sent, so counters and handshakes stay zero and compare exactly.
    // (Sends that fail are the subject of their own test below.)
    await sameCommand(net, ours, theirs, [
      'set', 'IFACE', 'listen-port', '51820', 'private-key', keyFile,
      'peer', p1!.publicKey, 'preshared-key', pskFile, 'endpoint', '192.0.2.1:51820',
      'allowed-ips', '10.1.0.0/16,fd01::/64,10.1.2.3/32',
      'peer', p2!.publicKey, 'allowed-ips', '10.2.0.1/32', 'persistent-keepalive', '25',
    ]);
    await assertSameViews(net, ours, theirs, 'wg set (key, port, two peers)');
    // The views agree, and they say what was set (so the agreement is not about nothing).
    const dump = await wgShowDump(net, ours.ns, ours.ifname);
    assert.deepEqual(dump.interface, { privateKey: me!.privateKey, publicKey: me!.publicKey, listenPort: 51820, fwmark: 'off' });
    assert.deepEqual(peerIn(dump, p1!.publicKey), {
      publicKey: p1!.publicKey, presharedKey: psk, endpoint: '192.0.2.1:51820', allowedIps: ['10.1.0.0/16', '10.1.2.3/32', 'fd01::/64'],
      latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: null,
    });
    assert.equal(peerIn(dump, p2!.publicKey).persistentKeepalive, 25);

    await sameCommand(net, ours, theirs, [
      'set', 'IFACE', 'fwmark', '0x2a', 'peer', p2!.publicKey, 'allowed-ips', '10.2.0.0/24,fd02::/48', 'persistent-keepalive', 'off',
      'peer', p1!.publicKey, 'remove',
    ]);
    await assertSameViews(net, ours, theirs, 'wg set (fwmark, replace allowed IPs, remove)');

    // addconf adds peers and adds to existing peers' allowed IPs.
    const add = privateFile(dir, 'add.conf', [
      '[Interface]',
      '[Peer]', `PublicKey = ${p3!.publicKey}`, 'AllowedIPs = 10.3.0.0/16, 10.2.0.0/24', 'Endpoint = [2001:db8::3]:7',
      '[Peer]', `PublicKey = ${p2!.publicKey}`, 'AllowedIPs = 10.22.0.0/16', `PresharedKey = ${psk}`,
      '',
    ].join('\n'));
    await sameCommand(net, ours, theirs, ['addconf', 'IFACE', add]);
    await assertSameViews(net, ours, theirs, 'wg addconf');

    // syncconf: p2 goes, p3 changes, p4 arrives; the port and key stay.
    const sync = privateFile(dir, 'sync.conf', [
      '[Interface]', `PrivateKey = ${me!.privateKey}`, 'ListenPort = 51820', 'FwMark = 0x2a',
      '[Peer]', `PublicKey = ${p3!.publicKey}`, 'AllowedIPs = 10.3.0.0/24', 'Endpoint = 198.51.100.3:4001', `PresharedKey = ${psk}`,
      '[Peer]', `PublicKey = ${p4!.publicKey}`, 'AllowedIPs = 10.4.0.0/16, fd04::/64', 'PersistentKeepalive = 5',
      '',
    ].join('\n'));
    await sameCommand(net, ours, theirs, ['syncconf', 'IFACE', sync]);
    await assertSameViews(net, ours, theirs, 'wg syncconf');

    // setconf replaces everything; no FwMark line clears it.
    const set = privateFile(dir, 'set.conf', [
      '[Interface]', `PrivateKey = ${me!.privateKey}`, 'ListenPort = 51821',
      '[Peer]', `PublicKey = ${p5!.publicKey}`, 'AllowedIPs = 0.0.0.0/0, ::/0', `PresharedKey = ${psk}`,
      '',
    ].join('\n'));
    await sameCommand(net, ours, theirs, ['setconf', 'IFACE', set]);
    await assertSameViews(net, ours, theirs, 'wg setconf');

    // What showconf prints, fed back through setconf, changes nothing.
    const shown = await wgOk(net, ours.ns, ['showconf', ours.ifname]);
    const again = privateFile(dir, 'again.conf', shown);
    await sameCommand(net, ours, theirs, ['setconf', 'IFACE', again]);
    await assertSameViews(net, ours, theirs, 'wg setconf of showconf');

    // Requests wg refuses itself, and ones it sends that the daemon must refuse, fail alike.
    for (const args of [
      ['set', 'IFACE', 'peer', 'not-base64!'],
      ['set', 'IFACE', 'peer', p5!.publicKey, 'allowed-ips', '10.0.0.0/33'],
      ['set', 'IFACE', 'peer', p5!.publicKey, 'persistent-keepalive', '65536'],
      ['show', 'IFACE', 'bogus-view'],
    ]) {
      const r = await sameCommand(net, ours, theirs, args);
      assert.notEqual(r.code, 0, `wg ${args.join(' ')} should fail`);
    }
    await assertSameViews(net, ours, theirs, 'refused commands');

    // A peer with our own public key is ignored; clearing the private key.
    await sameCommand(net, ours, theirs, ['set', 'IFACE', 'peer', me!.publicKey, 'allowed-ips', '10.9.0.0/16']);
    await assertSameViews(net, ours, theirs, 'wg set with our own public key');
    await sameCommand(net, ours, theirs, ['set', 'IFACE', 'private-key', '/dev/null', 'peer', p5!.publicKey, 'remove']);
    await assertSameViews(net, ours, theirs, 'clearing the private key');

    assert.equal(ours.exitCode(), null, 'wgts still running');
    assert.equal(theirs.exitCode(), null, 'wireguard-go still running');
  });
});

test('transfer counts only datagrams actually sent, as wireguard-go does', {
  skip,
  timeout: 60_000,
}, async () => {
  await withNetwork(async (net, logs) => {
    const ours = await startEmpty(net, 'wgts', net.a.ns, uniqueIfname('wxt'));
    logs.push(daemonLog(ours));
    const theirs = await startEmpty(net, 'wireguard-go', net.b.ns, uniqueIfname('wxg'));
    logs.push(daemonLog(theirs));
    const [me, peer] = await Promise.all([genKeyPair(), genKeyPair()]);
    const keyFile = privateFile(net.tempDir(), 'key', `${me.privateKey}\n`);
    // Turning keepalive on sends a handshake initiation at once; with no route it cannot leave.
    await sameCommand(net, ours, theirs, [
      'set', 'IFACE', 'listen-port', '51820', 'private-key', keyFile,
      'peer', peer.publicKey, 'endpoint', '192.0.2.1:51820', 'allowed-ips', '10.1.0.0/16', 'persistent-keepalive', '25',
    ]);
    await sleep(500);
    await assertSameViews(net, ours, theirs, 'a handshake initiation that could not be sent');
  });
});

// ---------------------------------------------------------------------------
// 2. wg-quick up/down with WG_QUICK_USERSPACE_IMPLEMENTATION=wgts

test('wg-quick brings wgts up and down like wireguard-go, and traffic flows between them', { skip, timeout: 120_000 }, async (t) => {
  await withNetwork(async (net, logs) => {
    const dir = net.tempDir();
    // How a package installs wgts: the bundle itself, executable, named wgts on PATH.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(wgtsBundlePath(), path.join(bin, 'wgts'));
    const runDir = path.join(dir, 'run');
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const ifA = uniqueIfname('wqa');
    const ifB = uniqueIfname('wqb');
    logs.push(() => {
      const file = path.join(dir, `wgts-${ifA}.log`);
      return `--- wgts ${ifA} (daemon log) ---\n${fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(none)'}`;
    });
    // No DNS (resolvconf) and no /0 (policy routing, firewall): wg-quick's plain path.
    const conf = (key: KeyPair, peer: KeyPair, me: number, other: string, port: number, otherPort: number) => [
      '[Interface]', `PrivateKey = ${key.privateKey}`, `ListenPort = ${port}`, `Address = 10.99.0.${me}/32, fd99::${me}/128`,
      '', '[Peer]', `PublicKey = ${peer.publicKey}`, `AllowedIPs = 10.99.0.${3 - me}/32, fd99::${3 - me}/128`,
      `Endpoint = ${endpoint(other, otherPort)}`, '',
    ].join('\n');
    const confA = privateFile(dir, `${ifA}.conf`, conf(ka, kb, 1, net.b.ipv4, 51820, 51821));
    const confB = privateFile(dir, `${ifB}.conf`, conf(kb, ka, 2, net.a.ipv4, 51821, 51820));
    const env = (impl: string) => ({
      WG_QUICK_USERSPACE_IMPLEMENTATION: impl,
      PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      WGTS_RUN_DIR: runDir,
      WGTS_LOG_DIR: dir,
      WG_HIDE_KEYS: 'never',
    });

    const upA = await net.exec(net.a.ns, ['wg-quick', 'up', confA], { env: env('wgts'), timeoutMs: 30_000 });
    t.diagnostic(`wg-quick up (wgts):\n${upA.stderr}${upA.stdout}`);
    assert.equal(upA.code, 0, `wg-quick up with wgts failed:\n${upA.stderr}${upA.stdout}`);
    const upB = await net.exec(net.b.ns, ['wg-quick', 'up', confB], { env: env('wireguard-go'), timeoutMs: 30_000 });
    assert.equal(upB.code, 0, `wg-quick up with wireguard-go failed:\n${upB.stderr}${upB.stdout}`);
    // wg-quick ran the implementation, then configured it with wg and ip.
    for (const step of [`[#] wgts ${ifA}`, `[#] wg setconf ${ifA}`, `[#] ip link set mtu 1420 up dev ${ifA}`, `[#] ip -4 route add 10.99.0.2/32 dev ${ifA}`]) {
      assert.ok(upA.stderr.includes(step), `wg-quick did not run "${step}":\n${upA.stderr}`);
    }
    const pid = Number(fs.readFileSync(path.join(runDir, `${ifA}.pid`), 'utf8'));
    assert.ok(isAlive(pid), 'the wgts daemon stayed up after wg-quick returned');
    const listed = (await wgOk(net, net.a.ns, ['show', 'interfaces'])).split(/\s+/);
    assert.ok(listed.includes(ifA) && listed.includes(ifB), `wg show interfaces lists both: ${listed.join(' ')}`);

    // Both links came out the same: MTU from the underlay route (1500 - 80), addresses, routes.
    const linkView = async (ns: string, ifname: string, me: number) => {
      const link = (await net.exec(ns, ['ip', '-o', 'link', 'show', 'dev', ifname], { check: true })).stdout;
      const addrs = (await net.exec(ns, ['ip', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'global'], { check: true })).stdout;
      const routes = (await net.exec(ns, ['ip', 'route', 'show', 'dev', ifname], { check: true })).stdout
        + (await net.exec(ns, ['ip', '-6', 'route', 'show', 'dev', ifname], { check: true })).stdout;
      const generic = (s: string) => s.split(ifname).join('IFACE').replace(new RegExp(`(10\\.99\\.0\\.|fd99::)${me}\\b`, 'g'), '$1ME')
        .replace(new RegExp(`(10\\.99\\.0\\.|fd99::)${3 - me}\\b`, 'g'), '$1PEER').replace(/^\d+: /gm, '').replace(/\s+/g, ' ');
      const state = /<([^>]*)>/.exec(link)?.[1]?.split(',').filter((f) => f === 'UP').join(',');
      return { mtu: /mtu (\d+)/.exec(link)?.[1], state, addrs: generic(addrs).replace(/valid_lft.*?preferred_lft \S+/g, ''), routes: generic(routes).split(' ').sort().join(' ') };
    };
    const viewA = await linkView(net.a.ns, ifA, 1);
    assert.deepEqual(viewA, await linkView(net.b.ns, ifB, 2), 'wg-quick set up both links the same');
    assert.equal(viewA.mtu, '1420');

    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 15 });
    assert.ok(first.received >= 1, `first ping through the tunnel\n${first.output}`);
    for (const [ns, to] of [[net.a.ns, 'fd99::2'], [net.b.ns, '10.99.0.1'], [net.b.ns, 'fd99::1']] as const) {
      const r = await ping(net, ns, to, { count: 3, interval: 0.1, timeoutSec: 8 });
      assert.equal(r.received, 3, `ping ${to}\n${r.output}`);
    }
    // Each side reports the other as it is: keys, endpoint, allowed IPs, and a handshake.
    const [dumpA, dumpB] = await Promise.all([wgShowDump(net, net.a.ns, ifA), wgShowDump(net, net.b.ns, ifB)]);
    assert.equal(dumpA.interface.publicKey, dumpB.peers[0]!.publicKey);
    assert.equal(dumpB.interface.publicKey, dumpA.peers[0]!.publicKey);
    assert.equal(dumpA.peers[0]!.endpoint, `${net.b.ipv4}:51821`);
    assert.equal(dumpB.peers[0]!.endpoint, `${net.a.ipv4}:51820`);
    assert.ok(dumpA.peers[0]!.latestHandshake > 0 && dumpB.peers[0]!.latestHandshake > 0);

    // wg-quick down: deletes the link; each daemon notices, exits and removes its socket.
    const goPids = pidsNamed(net.b.ns, 'wireguard-go');
    assert.equal(goPids.length, 1, 'wireguard-go daemonized in B');
    const downA = await net.exec(net.a.ns, ['wg-quick', 'down', confA], { env: env('wgts'), timeoutMs: 30_000 });
    assert.equal(downA.code, 0, `wg-quick down (wgts):\n${downA.stderr}`);
    const downB = await net.exec(net.b.ns, ['wg-quick', 'down', confB], { env: env('wireguard-go'), timeoutMs: 30_000 });
    assert.equal(downB.code, 0, `wg-quick down (wireguard-go):\n${downB.stderr}`);
    await waitFor('the wgts daemon to exit', () => !isAlive(pid), 10_000);
    await waitFor('wireguard-go to exit', () => !isAlive(goPids[0]!), 10_000);
    for (const ifname of [ifA, ifB]) {
      await waitFor(`${socketOf(ifname)} to be removed`, () => !fs.existsSync(socketOf(ifname)), 5000);
    }
    assert.equal(fs.existsSync(path.join(runDir, `${ifA}.pid`)), false, 'pid file removed');
    assert.deepEqual(pidsNamed(net.a.ns, 'socat'), [], 'no socat left behind');
    const list = await wgOk(net, net.a.ns, ['show', 'interfaces']);
    assert.ok(!list.split(/\s+/).includes(ifA) && !list.split(/\s+/).includes(ifB), `wg show interfaces: ${list}`);
  });
});

test('wg-quick full tunnel (AllowedIPs = 0.0.0.0/0, fwmark policy routing) works with wgts as with wireguard-go', {
  skip,
  timeout: 90_000,
}, async (t) => {
  // wg-quick routes everything but packets marked with the interface's fwmark into the
  // tunnel: the tunnel's own UDP packets must carry the mark or they loop into it. wgts
  // marks them through the wgts-tun.node module's sockets (SO_MARK); node's dgram cannot.
  await withNetwork(async (net, logs) => {
    const dir = net.tempDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(wgtsBundlePath(), path.join(bin, 'wgts'));
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    // The server is reached through A's default route, as over the Internet. wg-quick's
    // rules, sysctl and nft table all live in namespace A and go with it.
    const server = `10.201.${net.subnet}.2`;
    await net.addUnderlayAddress(net.b.ns, `${server}/32`);
    await net.exec(net.a.ns, ['ip', 'route', 'add', 'default', 'via', net.b.ipv4], { check: true });
    const b = await startWireguardGo(net, net.b.ns, uniqueIfname('wfb'), {
      privateKey: kb.privateKey, listenPort: 51821, addresses: ['10.99.0.2/24'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32'] }],
    });
    logs.push(handleLog(b));
    for (const impl of ['wireguard-go', 'wgts']) {
      const ifname = uniqueIfname('wfa');
      const conf = privateFile(dir, `${ifname}.conf`, [
        '[Interface]', `PrivateKey = ${ka.privateKey}`, 'Address = 10.99.0.1/32',
        '[Peer]', `PublicKey = ${kb.publicKey}`, 'AllowedIPs = 0.0.0.0/0', `Endpoint = ${server}:51821`, '',
      ].join('\n'));
      const env = { WG_QUICK_USERSPACE_IMPLEMENTATION: impl, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, WGTS_RUN_DIR: dir, WGTS_LOG_DIR: dir };
      const up = await net.exec(net.a.ns, ['wg-quick', 'up', conf], { env, timeoutMs: 30_000 });
      assert.equal(up.code, 0, `wg-quick up (${impl}):\n${up.stderr}`);
      try {
        const r = await ping(net, net.a.ns, '10.99.0.2', { count: 3, interval: 0.2, timeoutSec: 6 });
        t.diagnostic(`${impl}: ${r.received}/3 echoes through the full tunnel`);
        assert.equal(r.received, 3, `${impl}: ping through a wg-quick full tunnel\n${r.output}`);
      } finally {
        await net.exec(net.a.ns, ['wg-quick', 'down', conf], { env, timeoutMs: 30_000 });
      }
    }
  });
});


// ---------------------------------------------------------------------------
// 3. Live changes leave alone what they do not touch

interface Offices {
  a: TunnelHandle;
  b: TunnelHandle;
  keys: { a: KeyPair; b: KeyPair };
}

/** wgts in A (10.99.0.1) and wireguard-go in B (10.99.0.2), each knowing the other's endpoint. */
async function offices(net: TwoSiteNetwork, logs: (() => string)[]): Promise<Offices> {
  const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
  const a = await startWgts(net, net.a.ns, uniqueIfname('wla'), {
    privateKey: ka.privateKey, listenPort: 51820, addresses: ['10.99.0.1/24'], mtu: 1420,
    peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32'], endpoint: endpoint(net.b.ipv4, 51821) }],
  });
  logs.push(handleLog(a));
  const b = await startWireguardGo(net, net.b.ns, uniqueIfname('wlb'), {
    privateKey: kb.privateKey, listenPort: 51821, addresses: ['10.99.0.2/24'], mtu: 1420,
    peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32'], endpoint: endpoint(net.a.ipv4, 51820) }],
  });
  logs.push(handleLog(b));
  return { a, b, keys: { a: ka, b: kb } };
}

function peerIn(dump: { peers: WgDumpPeer[] }, publicKey: string): WgDumpPeer {
  const peer = dump.peers.find((p) => p.publicKey === publicKey);
  assert.ok(peer, `peer ${publicKey} not in dump`);
  return peer;
}

test('live changes: syncconf adding a peer keeps sessions, a new listen-port is followed by the peer', { skip, timeout: 120_000 }, async (t) => {
  await withNetwork(async (net, logs) => {
    const { a, b, keys } = await offices(net, logs);
    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 15 });
    assert.ok(first.received >= 1, `first contact\n${first.output}`);
    const before = {
      a: peerIn(await wgShowDump(net, net.a.ns, a.ifname), keys.b.publicKey),
      b: peerIn(await wgShowDump(net, net.b.ns, b.ifname), keys.a.publicKey),
    };
    assert.ok(before.a.latestHandshake > 0 && before.b.latestHandshake > 0);
    assert.ok(Math.abs(before.a.latestHandshake - before.b.latestHandshake) <= 2, 'both report the same handshake time');

    // syncconf on both sides, each adding a third peer, while traffic flows.
    const dir = net.tempDir();
    const extra = await genKeyPair();
    const traffic = ping(net, net.a.ns, '10.99.0.2', { count: 40, interval: 0.05, timeoutSec: 12 });
    await sleep(500);
    for (const [ns, ifname] of [[net.a.ns, a.ifname], [net.b.ns, b.ifname]] as const) {
      const current = await wgOk(net, ns, ['showconf', ifname]);
      const file = privateFile(dir, `${ifname}.conf`, `${current}\n[Peer]\nPublicKey = ${extra.publicKey}\nAllowedIPs = 10.99.0.77/32\n`);
      await wgOk(net, ns, ['syncconf', ifname, file]);
    }
    const during = await traffic;
    t.diagnostic(`syncconf under traffic: ${during.received}/${during.transmitted} echoes`);
    assert.ok(during.received >= during.transmitted - 1, `traffic kept flowing through syncconf\n${during.output}`);
    const afterSync = { a: await wgShowDump(net, net.a.ns, a.ifname), b: await wgShowDump(net, net.b.ns, b.ifname) };
    assert.equal(peerIn(afterSync.a, keys.b.publicKey).latestHandshake, before.a.latestHandshake, 'wgts kept its session (no new handshake)');
    assert.equal(peerIn(afterSync.b, keys.a.publicKey).latestHandshake, before.b.latestHandshake, 'wireguard-go kept its session');
    assert.deepEqual(peerIn(afterSync.a, extra.publicKey).allowedIps, ['10.99.0.77/32']);
    assert.deepEqual(peerIn(afterSync.b, extra.publicKey).allowedIps, ['10.99.0.77/32']);

    // wgts moves to a new port mid-traffic: wireguard-go learns it from the next packet.
    const moveA = ping(net, net.a.ns, '10.99.0.2', { count: 40, interval: 0.05, timeoutSec: 12 });
    await sleep(500);
    await wgOk(net, net.a.ns, ['set', a.ifname, 'listen-port', '51830']);
    const duringA = await moveA;
    t.diagnostic(`wgts listen-port change under traffic: ${duringA.received}/${duringA.transmitted} echoes`);
    assert.ok(duringA.received >= duringA.transmitted - 3, `traffic continued across the rebind\n${duringA.output}`);
    assert.equal((await wgOk(net, net.a.ns, ['show', a.ifname, 'listen-port'])).trim(), '51830');
    const ss = await net.exec(net.a.ns, ['ss', '-Hlun', 'sport = :51820'], { check: true });
    assert.equal(ss.stdout.trim(), '', 'the old port is closed');
    assert.equal(peerIn(await wgShowDump(net, net.b.ns, b.ifname), keys.a.publicKey).endpoint, `${net.a.ipv4}:51830`, 'wireguard-go follows');

    // wireguard-go moves: wgts follows it the same way.
    const moveB = ping(net, net.b.ns, '10.99.0.1', { count: 40, interval: 0.05, timeoutSec: 12 });
    await sleep(500);
    await wgOk(net, net.b.ns, ['set', b.ifname, 'listen-port', '51831']);
    const duringB = await moveB;
    t.diagnostic(`wireguard-go listen-port change under traffic: ${duringB.received}/${duringB.transmitted} echoes`);
    assert.ok(duringB.received >= duringB.transmitted - 3, `traffic continued across wireguard-go's rebind\n${duringB.output}`);
    const final = { a: await wgShowDump(net, net.a.ns, a.ifname), b: await wgShowDump(net, net.b.ns, b.ifname) };
    assert.equal(peerIn(final.a, keys.b.publicKey).endpoint, `${net.b.ipv4}:51831`, 'wgts follows');
    // Still the first session on both sides.
    assert.equal(peerIn(final.a, keys.b.publicKey).latestHandshake, before.a.latestHandshake);
    assert.equal(peerIn(final.b, keys.a.publicKey).latestHandshake, before.b.latestHandshake);
    const back = await ping(net, net.a.ns, '10.99.0.2', { count: 3, interval: 0.1, timeoutSec: 8 });
    assert.equal(back.received, 3, back.output);

    // What one side counts as sent, the other counts as received (both count whole
    // datagrams). Compared over a window with the tunnel quiet at both ends, so no
    // packet lost earlier (during the rebinds) or still in flight skews it.
    const counters = async () => {
      const [da, db] = await Promise.all([wgShowDump(net, net.a.ns, a.ifname), wgShowDump(net, net.b.ns, b.ifname)]);
      const pa = peerIn(da, keys.b.publicKey);
      const pb = peerIn(db, keys.a.publicKey);
      return { aTx: pa.txBytes, aRx: pa.rxBytes, bTx: pb.txBytes, bRx: pb.rxBytes };
    };
    const quiet = async () => {
      let last = await counters();
      return waitFor('the tunnel to be quiet', async () => {
        await sleep(300);
        const now = await counters();
        const same = JSON.stringify(now) === JSON.stringify(last);
        last = now;
        return same && now;
      }, 10_000, 0);
    };
    const start = await quiet();
    const window = await ping(net, net.a.ns, '10.99.0.2', { count: 10, interval: 0.05, timeoutSec: 8 });
    assert.equal(window.received, 10, window.output);
    const end = await quiet();
    const delta = { aTx: end.aTx - start.aTx, aRx: end.aRx - start.aRx, bTx: end.bTx - start.bTx, bRx: end.bRx - start.bRx };
    t.diagnostic(`transfer over 10 echoes: ${JSON.stringify(delta)}`);
    assert.ok(delta.aTx > 0 && delta.aRx > 0, 'traffic was counted');
    assert.equal(delta.aTx, delta.bRx, 'bytes wgts sent = bytes wireguard-go received');
    assert.equal(delta.aRx, delta.bTx, 'bytes wgts received = bytes wireguard-go sent');
  });
});

// ---------------------------------------------------------------------------
// 4. Scale: 130,000 allowed IPs on one peer, then 1,000 peers

/** The allowed IPs wg prints, per public key. */
function parseAllowedIps(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [key, list = ''] = line.split('\t');
    map.set(key!, list === '(none)' ? [] : list.split(' ').sort());
  }
  return map;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number((process.hrtime.bigint() - started) / 1_000_000n)];
}

test('scale: setconf with 130,000 allowed IPs on one peer and with 1,000 peers, listed back in full', { skip, timeout: 180_000 }, async (t) => {
  await withNetwork(async (net, logs) => {
    const ours = await startEmpty(net, 'wgts', net.a.ns, uniqueIfname('wst'));
    logs.push(daemonLog(ours));
    const theirs = await startEmpty(net, 'wireguard-go', net.b.ns, uniqueIfname('wsg'));
    logs.push(daemonLog(theirs));
    const dir = net.tempDir();
    const me = await genKeyPair();
    const randomKey = () => randomBytes(32).toString('base64');

    // 100,000 IPv4 /32s and 30,000 IPv6 /32s, all in canonical form.
    const bigPeer = randomKey();
    const prefixes: string[] = [];
    for (let i = 0; i < 100_000; i++) prefixes.push(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`);
    for (let j = 1; j <= 30_000; j++) prefixes.push(`fd01:${j.toString(16)}::/32`);
    const bigLines = ['[Interface]', `PrivateKey = ${me.privateKey}`, 'ListenPort = 51820', '[Peer]', `PublicKey = ${bigPeer}`];
    for (let i = 0; i < prefixes.length; i += 1000) bigLines.push(`AllowedIPs = ${prefixes.slice(i, i + 1000).join(', ')}`);
    const bigConf = privateFile(dir, 'big.conf', `${bigLines.join('\n')}\n`);
    const expectedBig = [...prefixes].sort();

    // 1,000 peers, each with an IPv4 and an IPv6 prefix.
    const manyLines = ['[Interface]', `PrivateKey = ${me.privateKey}`, 'ListenPort = 51820'];
    const expectedMany = new Map<string, string[]>();
    for (let k = 0; k < 1000; k++) {
      const key = randomKey();
      const ips = [`10.60.${k >> 8}.${k & 255}/32`, `fd60::${(k + 1).toString(16)}/128`];
      expectedMany.set(key, [...ips].sort());
      manyLines.push('[Peer]', `PublicKey = ${key}`, `AllowedIPs = ${ips.join(', ')}`);
    }
    const manyConf = privateFile(dir, 'many.conf', `${manyLines.join('\n')}\n`);

    const figures: string[] = [];
    for (const d of [ours, theirs]) {
      const [, setBig] = await timed(() => wgOk(net, d.ns, ['setconf', d.ifname, bigConf], 120_000));
      const [bigList, showBig] = await timed(() => wgOk(net, d.ns, ['show', d.ifname, 'allowed-ips'], 120_000));
      const big = parseAllowedIps(bigList);
      assert.deepEqual([...big.keys()], [bigPeer], `${d.kind}: one peer`);
      assert.equal(big.get(bigPeer)!.length, 130_000, `${d.kind}: every allowed IP listed`);
      assert.deepEqual(big.get(bigPeer), expectedBig, `${d.kind}: exactly the configured allowed IPs`);
      const [, removeBig] = await timed(() => wgOk(net, d.ns, ['set', d.ifname, 'peer', bigPeer, 'remove'], 120_000));

      const [, setMany] = await timed(() => wgOk(net, d.ns, ['setconf', d.ifname, manyConf], 120_000));
      const [manyList, showMany] = await timed(() => wgOk(net, d.ns, ['show', d.ifname, 'allowed-ips'], 120_000));
      assert.deepEqual(parseAllowedIps(manyList), expectedMany, `${d.kind}: all 1,000 peers with their allowed IPs`);
      const [dumpText, dumpMany] = await timed(() => wgOk(net, d.ns, ['show', d.ifname, 'dump'], 120_000));
      assert.equal(dumpText.trim().split('\n').length, 1001, `${d.kind}: dump lists 1,000 peers`);
      figures.push(
        `${d.kind}: setconf 130,000 allowed IPs ${setBig} ms, wg show allowed-ips ${showBig} ms, remove that peer ${removeBig} ms; ` +
          `setconf 1,000 peers ${setMany} ms, wg show allowed-ips ${showMany} ms, wg show dump ${dumpMany} ms`,
      );
    }
    // Not asserted: timings depend on the machine. Each includes starting wg through `ip netns exec`.
    for (const line of figures) t.diagnostic(line);
    assert.equal(ours.exitCode(), null, 'wgts still running');
  });
});

// ---------------------------------------------------------------------------
// 5. Bad input on the daemon's socket


test('bad input on the wgts daemon socket: errno replies as wireguard-go, daemon keeps running, nothing changes', { skip, timeout: 120_000 }, async (t) => {
  await withNetwork(async (net, logs) => {
    const ours = await startEmpty(net, 'wgts', net.a.ns, uniqueIfname('wbt'));
    logs.push(daemonLog(ours));
    const theirs = await startEmpty(net, 'wireguard-go', net.b.ns, uniqueIfname('wbg'));
    logs.push(daemonLog(theirs));
    const dir = net.tempDir();
    const [me, p1, p2] = await Promise.all([genKeyPair(), genKeyPair(), genKeyPair()]);
    const conf = privateFile(dir, 'start.conf', [
      '[Interface]', `PrivateKey = ${me.privateKey}`, 'ListenPort = 51820',
      '[Peer]', `PublicKey = ${p1.publicKey}`, 'AllowedIPs = 10.1.0.0/16, fd01::/64', 'Endpoint = 192.0.2.1:51820',
      '[Peer]', `PublicKey = ${p2.publicKey}`, 'AllowedIPs = 10.2.0.0/16',
      '',
    ].join('\n'));
    await wgOk(net, ours.ns, ['setconf', ours.ifname, conf]);
    await wgOk(net, theirs.ns, ['setconf', theirs.ifname, conf]);
    const showconf = () => wgOk(net, ours.ns, ['showconf', ours.ifname]);
    const baseline = await showconf();
    const theirBaseline = await wgOk(net, theirs.ns, ['showconf', theirs.ifname]);
    // The daemon's socket is root's alone, in a directory anyone may list (as wireguard-go's).
    assert.equal(fs.statSync(UAPI_DIR).mode & 0o777, 0o755);
    for (const d of [ours, theirs]) assert.equal(fs.statSync(d.socket).mode & 0o777, 0o700, `${d.kind} socket mode`);
    const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
    const h1 = hex(p1.publicKey);

    // Each case: a whole request the daemon must refuse. The lines before the bad
    // one are valid, so a daemon that applied them would show it in showconf.
    const refused: [string, string][] = [
      ['unknown device key', 'set=1\nlisten_port=51999\nno_such_key=1\n\n'],
      ['unknown peer key', `set=1\nreplace_peers=true\npublic_key=${h1}\nno_such_key=1\n\n`],
      ['bad hex private key', `set=1\nlisten_port=51999\nprivate_key=${'zz'.repeat(32)}\n\n`],
      ['short public key', `set=1\nreplace_peers=true\npublic_key=${h1.slice(0, 62)}\n\n`],
      ['base64 where hex belongs', `set=1\nreplace_peers=true\npublic_key=${p1.publicKey}\n\n`],
      ['bad preshared key', `set=1\npublic_key=${h1}\npreshared_key=${'0'.repeat(63)}g\n\n`],
      ['CIDR with a prefix too long', `set=1\npublic_key=${h1}\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/33\n\n`],
      ['CIDR with a bad address', `set=1\npublic_key=${h1}\nreplace_allowed_ips=true\nallowed_ip=10.0.300.0/24\n\n`],
      ['CIDR without a length', `set=1\npublic_key=${h1}\nreplace_allowed_ips=true\nallowed_ip=fd00::1\n\n`],
      ['IPv6 prefix too long', `set=1\npublic_key=${h1}\nreplace_allowed_ips=true\nallowed_ip=fd00::/129\n\n`],
      ['bad endpoint', `set=1\npublic_key=${h1}\nendpoint=192.0.2.1\n\n`],
      ['bad listen port', 'set=1\nreplace_peers=true\nlisten_port=65536\n\n'],
      ['line without =', `set=1\nreplace_peers=true\npublic_key=${h1}\ngarbage\n\n`],
      ['get with arguments', 'get=1\nlisten_port=1\n\n'],
    ];
    for (const [what, text] of refused) {
      const [a, b] = await Promise.all([rawExchange(ours.socket, text), rawExchange(theirs.socket, text)]);
      assert.match(a, /^errno=-\d+\n\n$/, `${what}: an errno reply`);
      assert.equal(a, b, `${what}: wgts and wireguard-go reply alike`);
      assert.equal(ours.exitCode(), null, `${what}: wgts still running`);
      assert.equal(await showconf(), baseline, `${what}: the rejected set changed nothing`);
    }
    // wireguard-go applies a set line by line, so the lines before a bad one stick there.
    const theirsNow = await wgOk(net, theirs.ns, ['showconf', theirs.ifname]);
    t.diagnostic(`wireguard-go after the same refused requests: ${theirsNow === theirBaseline ? 'unchanged' : `changed:\n${theirsNow}`}`);

    // A port another program holds: EADDRINUSE from both, and wgts keeps its old port working.
    for (const d of [ours, theirs]) net.spawn(d.ns, ['socat', '-u', 'UDP-RECV:51850', 'OPEN:/dev/null']);
    await waitFor('socat holding UDP port 51850 in both namespaces', async () => {
      const held = await Promise.all([ours, theirs].map((d) => net.exec(d.ns, ['ss', '-Hlun', 'sport = :51850'])));
      return held.every((r) => r.stdout.trim() !== '');
    }, 5000);
    const busy = await sameCommand(net, ours, theirs, ['set', 'IFACE', 'listen-port', '51850']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /Address already in use/);
    assert.equal(await showconf(), baseline, 'a port that cannot be had changes nothing');
    const bound = await net.exec(ours.ns, ['ss', '-Hlun', 'sport = :51820'], { check: true });
    assert.notEqual(bound.stdout.trim(), '', 'wgts still listens on its old port');

    // The client stops mid-request (half-close with no empty line): wgts refuses
    // the fragment. wireguard-go applies what it got, so only wgts is checked.
    for (const text of ['set=1\nlisten_port=51999\nreplace_peers=true\n', `set=1\npublic_key=${h1}\nremove=true`]) {
      const [a, b] = await Promise.all([rawExchange(ours.socket, text), rawExchange(theirs.socket, text)]);
      t.diagnostic(`truncated ${JSON.stringify(text)}: wgts ${JSON.stringify(a)}, wireguard-go ${JSON.stringify(b)}`);
      assert.match(a, /^errno=-\d+\n\n$/, 'truncated request: errno reply');
      assert.notEqual(a, 'errno=0\n\n');
      assert.equal(await showconf(), baseline, 'truncated request changed nothing');
    }

    // A client that vanishes mid-request, and one that connects and says nothing.
    for (const text of ['set=1\nreplace_peers=true\nlisten_port=51999\n', '']) {
      await new Promise<void>((resolve, reject) => {
        const client = netSocket.connect(ours.socket, () => {
          if (text) client.write(text);
          setTimeout(() => {
            client.destroy();
            resolve();
          }, 50);
        });
        client.on('error', reject);
      });
      await sleep(100);
      assert.equal(ours.exitCode(), null, 'wgts survives a vanishing client');
      assert.equal(await showconf(), baseline, 'an abandoned request changed nothing');
    }

    // A client stalled half-way through a set holds nothing up for anyone else.
    const stalled = netSocket.connect(ours.socket);
    stalled.on('error', () => {});
    await new Promise((resolve) => stalled.once('connect', resolve));
    stalled.write('set=1\nreplace_peers=true\nlisten_port=51999\n');
    try {
      assert.equal(await showconf(), baseline, 'wg works while another client is stalled mid-request');
    } finally {
      stalled.destroy();
    }

    // Not the protocol at all, and a line far longer than any real one.
    assert.match(await rawExchange(ours.socket, 'GET / HTTP/1.0\r\n\r\n'), /^errno=-\d+\n\n$/);
    assert.match(await rawExchange(ours.socket, `set=1\nlisten_port=${'9'.repeat(200_000)}\n\n`), /^errno=-\d+\n\n$/);
    assert.equal(await showconf(), baseline);

    // wg(8) refuses what it cannot encode; the daemon never sees it.
    for (const args of [['peer', 'not-base64!'], ['peer', p1.publicKey, 'allowed-ips', '10.0.0.0/33'], ['private-key', '/nonexistent']]) {
      const r = await wg(net, ours.ns, ['set', ours.ifname, ...args]);
      assert.notEqual(r.code, 0, `wg set ${args.join(' ')}`);
    }

    // Still fully working.
    assert.equal(ours.exitCode(), null);
    await wgOk(net, ours.ns, ['set', ours.ifname, 'listen-port', '51999']);
    assert.match(await showconf(), /ListenPort = 51999/);
  });
});

// ---------------------------------------------------------------------------
// 6. The link deleted, or moved to another namespace

test('a TUN moved to another namespace keeps working; deleting it stops the daemon and removes its socket (as wireguard-go)', { skip, timeout: 120_000 }, async (t) => {
  await withNetwork(async (net, logs) => {
    const { a, b, keys } = await offices(net, logs);
    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 15 });
    assert.ok(first.received >= 1, `first contact\n${first.output}`);

    // Both TUNs go to namespaces of their own; UDP stays where each daemon runs.
    const x = await extraNamespace(net, 'x');
    const y = await extraNamespace(net, 'y');
    for (const [ns, to, handle, address] of [[net.a.ns, x, a, '10.99.0.1/24'], [net.b.ns, y, b, '10.99.0.2/24']] as const) {
      await net.exec(ns, ['ip', 'link', 'set', 'dev', handle.ifname, 'netns', to], { check: true });
      await execInOk(to, ['ip', 'addr', 'add', address, 'dev', handle.ifname]);
      await execInOk(to, ['ip', 'link', 'set', 'dev', handle.ifname, 'mtu', '1420', 'up']);
    }
    assert.equal((await net.exec(net.a.ns, ['ip', 'link', 'show', 'dev', a.ifname])).code === 0, false, 'the link left A');
    for (const [from, to] of [[x, '10.99.0.2'], [y, '10.99.0.1']] as const) {
      const r = await execIn(from, ['ping', '-n', '-c', '3', '-i', '0.1', '-w', '10', to]);
      assert.equal(r.code, 0, `ping ${to} from ${from} after the move\n${r.stdout}${r.stderr}`);
    }
    assert.equal(a.exitCode(), null, 'wgts still running');
    // wg still finds the interface (by its socket), from any namespace.
    const dump = await wgShowDump(net, net.a.ns, a.ifname);
    assert.ok(peerIn(dump, keys.b.publicKey).rxBytes > 0);

    // Deleting the link in its new namespace ends each daemon, socket and all.
    for (const [ns, handle] of [[x, a], [y, b]] as const) {
      await execInOk(ns, ['ip', 'link', 'del', 'dev', handle.ifname]);
      await waitFor(`${handle.kind} to exit after its link was deleted`, () => handle.exitCode() !== null, 10_000);
      await waitFor(`${handle.kind}'s socket to go`, () => !fs.existsSync(socketOf(handle.ifname)), 5000);
      t.diagnostic(`${handle.kind} exited with ${handle.exitCode()} after ip link del`);
    }
    assert.equal(a.exitCode(), 0, 'wgts exits cleanly');
    assert.deepEqual(pidsNamed(net.a.ns, 'socat'), [], 'no socat left behind');
  });
});

test('`wgts IFACE` stops, as wireguard-go does, when its link is deleted or its socket removed', { skip, timeout: 60_000 }, async () => {
  await withNetwork(async (net, logs) => {
    const start = async (tag: string) => {
      const ours = await startEmpty(net, 'wgts', net.a.ns, uniqueIfname(`w${tag}t`));
      logs.push(daemonLog(ours));
      const theirs = await startEmpty(net, 'wireguard-go', net.b.ns, uniqueIfname(`w${tag}g`));
      logs.push(daemonLog(theirs));
      return [ours, theirs] as const;
    };
    const linkExists = async (d: Daemon) => (await net.exec(d.ns, ['ip', 'link', 'show', 'dev', d.ifname])).code === 0;

    // ip link del: the daemon exits and takes its socket with it.
    for (const d of await start('d')) {
      await net.exec(d.ns, ['ip', 'link', 'del', 'dev', d.ifname], { check: true });
      await waitFor(`${d.kind} to exit after ip link del`, () => d.exitCode() !== null, 10_000);
      await waitFor(`${d.kind}'s socket to go`, () => !fs.existsSync(d.socket), 5000);
      assert.equal(d.exitCode(), 0, `${d.kind} exit code`);
      assert.notEqual((await wg(net, d.ns, ['show', d.ifname])).code, 0, 'wg no longer finds it');
    }

    // The socket removed (how some tools stop a userspace daemon): it exits and its link goes.
    for (const d of await start('s')) {
      fs.rmSync(d.socket);
      await waitFor(`${d.kind} to exit after its socket was removed`, () => d.exitCode() !== null, 10_000);
      await waitFor(`${d.kind}'s link to go`, async () => !(await linkExists(d)), 5000);
      assert.equal(d.exitCode(), 0, `${d.kind} exit code`);
    }
  });
});

