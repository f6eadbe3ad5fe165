/**
 * The socat TUN bridge against the real kernel: each test makes its own network namespace,
 * runs openSocatTun inside it (through socat-tun/bridge.helper.ts) and pings across the TUN,
 * answering the pings by hand. Needs root, socat, ip and ping.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Helper,
  buildHelper,
  createNamespace,
  deleteNamespace,
  eventually,
  linkExistsIn,
  processGone,
  run,
} from './socat-tun/harness';
import { openSocatTun } from '../../src/platform/node/socat-tun';
import { echoReply, echoRequestV4, formatIpv6, ipv6Bytes, isWholeIpPacket, parseIcmp } from './socat-tun/packets';

const TUN = 'wgtest0';

let helperPath = '';
let cleanupBuild = (): void => {};
const helpers = new Set<Helper>();
const namespaces = new Set<string>();

before(() => {
  const built = buildHelper();
  helperPath = built.path;
  cleanupBuild = built.cleanup;
});

after(async () => {
  await Promise.all([...helpers].map((h) => h.stop()));
  for (const ns of namespaces) deleteNamespace(ns);
  cleanupBuild();
});

function namespace(tag: string): string {
  const ns = createNamespace(tag);
  namespaces.add(ns);
  return ns;
}

function startHelper(ns: string): Helper {
  const helper = new Helper(helperPath, ns);
  helpers.add(helper);
  return helper;
}

async function finish(helper: Helper, ...nss: string[]): Promise<void> {
  await helper.stop();
  helpers.delete(helper);
  for (const ns of nss) {
    deleteNamespace(ns);
    namespaces.delete(ns);
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));

interface OpenResult {
  socatPid: number;
  ports: { node: number; socat: number };
}

/**
 * Pings `target` from inside `pingNs`, waits for the echo request to come out of the
 * bridge, writes the matching reply back into it, and returns the request and ping's result.
 */
async function pingAcrossBridge(helper: Helper, pingNs: string, target: string, family: 4 | 6) {
  const alreadySeen = helper.packets.length;
  const wanted = family === 4 ? target : formatIpv6(ipv6Bytes(target));
  const ping = run('ip', ['netns', 'exec', pingNs, 'ping', `-${family}`, '-c', '1', '-W', '2', target]);
  const request = await helper.waitFor(
    () =>
      helper.packets
        .slice(alreadySeen)
        .map((event) => bytes(event.hex))
        .find((p) => {
          const icmp = parseIcmp(p);
          return icmp?.type === (family === 4 ? 8 : 128) && icmp.dst === wanted;
        }),
    4000,
    `an echo request to ${target}`,
  );
  await helper.request('write', { name: TUN, hex: hex(echoReply(request)) });
  return { request, result: await ping };
}

function assertAllWholePackets(helper: Helper): void {
  for (const event of helper.packets) {
    assert.ok(isWholeIpPacket(bytes(event.hex)), `not exactly one IP packet: ${event.hex}`);
  }
}

test('an IPv4 ping crosses the bridge in both directions, one packet per datagram', { timeout: 20_000 }, async () => {
  const ns = namespace('st4');
  const helper = startHelper(ns);
  await helper.request('open', { name: TUN, mtu: 1400 });
  await helper.request('addAddress', { name: TUN, cidr: '10.77.0.1/24' });
  assert.match((await run('ip', ['-n', ns, 'link', 'show', 'dev', TUN])).stdout, /mtu 1400 /);

  const { request, result } = await pingAcrossBridge(helper, ns, '10.77.0.2', 4);

  const icmp = parseIcmp(request)!;
  assert.equal(icmp.src, '10.77.0.1');
  assert.ok(icmp.checksumOk, 'ICMP checksum of the delivered request');
  assert.equal(result.code, 0, `ping failed: ${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /1 received/);
  assertAllWholePackets(helper);

  // Routes added through ip-config lead into the TUN as well; ip's complaints come through.
  await helper.request('addRoute', { name: TUN, cidr: '10.99.0.0/16' });
  await helper.request('addRoute', { name: TUN, cidr: '10.99.0.0/16' });
  const routed = await pingAcrossBridge(helper, ns, '10.99.3.4', 4);
  assert.equal(routed.result.code, 0, `ping failed: ${routed.result.stdout}${routed.result.stderr}`);
  await assert.rejects(helper.request('addAddress', { name: TUN, cidr: '10.77.0.1/24' }), /already assigned|File exists/);
  await finish(helper, ns);
});

test('an IPv6 ping crosses the bridge in both directions', { timeout: 20_000 }, async () => {
  const ns = namespace('st6');
  const helper = startHelper(ns);
  await helper.request('open', { name: TUN });
  await helper.request('addAddress', { name: TUN, cidr: 'fd00:77::1/64' });

  const { request, result } = await pingAcrossBridge(helper, ns, 'fd00:77::2', 6);

  const icmp = parseIcmp(request)!;
  assert.equal(icmp.src, formatIpv6(ipv6Bytes('fd00:77::1')));
  assert.ok(icmp.checksumOk, 'ICMPv6 checksum of the delivered request');
  assert.equal(result.code, 0, `ping failed: ${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /1 received/);
  assertAllWholePackets(helper);
  await finish(helper, ns);
});

test('datagrams from any other local port never reach the packet handler', { timeout: 20_000 }, async () => {
  const ns = namespace('stx');
  const helper = startHelper(ns);
  await helper.request('open', { name: TUN });
  await helper.request('addAddress', { name: TUN, cidr: '10.77.0.1/24' });
  const marker = Buffer.from('not from socat');
  const forged = echoRequestV4('10.77.0.1', '10.77.0.3', marker);

  // Sent before the ping, so were it accepted it would arrive before the real request.
  await helper.request('injectFromStranger', { name: TUN, hex: hex(forged) });
  const { result } = await pingAcrossBridge(helper, ns, '10.77.0.2', 4);

  assert.equal(result.code, 0);
  const forgedSeen = helper.packets.some((event) => event.hex.includes(marker.toString('hex')));
  assert.equal(forgedSeen, false, 'a datagram from a stranger port was delivered as a packet');
  await finish(helper, ns);
});

test('deleting the link fires onClose within 2 s and ends socat', { timeout: 20_000 }, async () => {
  const ns = namespace('std');
  const helper = startHelper(ns);
  const { socatPid } = (await helper.request('open', { name: TUN })) as OpenResult;

  const deletedAt = Date.now();
  await helper.request('deleteLink', { name: TUN });
  const closed = await helper.waitFor(() => helper.closed[0], 2000, 'onClose after link deletion');

  assert.ok(Date.now() - deletedAt <= 2000);
  assert.match(closed.reason, /gone/);
  assert.ok(await eventually(() => processGone(socatPid, 'socat'), 2000), 'socat still running');
  assert.equal(helper.closed.length, 1, 'onClose fired more than once');
  await finish(helper, ns);
});

test('packets keep flowing after the link moves to another namespace', { timeout: 20_000 }, async () => {
  const home = namespace('sth');
  const away = namespace('sta');
  const helper = startHelper(home);
  await helper.request('open', { name: TUN });

  const move = await run('ip', ['-n', home, 'link', 'set', 'dev', TUN, 'netns', away]);
  assert.equal(move.code, 0, move.stderr);
  assert.equal(await helper.request('linkExists', { name: TUN }), false);
  // The moved link is down; writing to it fails in the kernel (EIO), which must not end
  // the bridge.
  await helper.request('write', { name: TUN, hex: hex(echoRequestV4('10.78.0.2', '10.78.0.1', new Uint8Array(8))) });
  for (const args of [['address', 'add', '10.78.0.1/24', 'dev', TUN], ['link', 'set', 'dev', TUN, 'up']]) {
    const r = await run('ip', ['-n', away, ...args]);
    assert.equal(r.code, 0, r.stderr);
  }

  const { request, result } = await pingAcrossBridge(helper, away, '10.78.0.2', 4);

  assert.equal(parseIcmp(request)!.src, '10.78.0.1');
  assert.equal(result.code, 0, `ping failed: ${result.stdout}${result.stderr}`);
  assert.deepEqual(helper.closed, []);
  await finish(helper, home, away);
});

test('close() removes the link and ends socat', { timeout: 20_000 }, async () => {
  const ns = namespace('stc');
  const helper = startHelper(ns);
  const { socatPid } = (await helper.request('open', { name: TUN })) as OpenResult;
  assert.equal(await linkExistsIn(ns, TUN), true);

  await helper.request('close', { name: TUN });

  assert.equal(await linkExistsIn(ns, TUN), false);
  assert.ok(await eventually(() => processGone(socatPid, 'socat'), 2000), 'socat still running');
  assert.deepEqual(helper.closed, [], 'onClose is for losses, not for close()');
  await finish(helper, ns);
});

test('socat and the link go away when node is SIGKILLed', { timeout: 20_000 }, async () => {
  const ns = namespace('stk');
  const helper = startHelper(ns);
  const { socatPid } = (await helper.request('open', { name: TUN })) as OpenResult;

  helper.kill('SIGKILL');
  await helper.exited;

  assert.ok(await eventually(() => processGone(socatPid, 'socat'), 3000), 'socat outlived node');
  assert.ok(await eventually(async () => !(await linkExistsIn(ns, TUN)), 3000), 'link outlived node');
  helpers.delete(helper);
  deleteNamespace(ns);
  namespaces.delete(ns);
});

test('opening a name that is already in use fails with socat\'s reason', { timeout: 20_000 }, async () => {
  const ns = namespace('stb');
  const helper = startHelper(ns);
  await helper.request('open', { name: TUN });

  await assert.rejects(helper.request('open', { name: TUN }), /busy/i);

  // The failed attempt cleaned up after itself without touching the first bridge.
  assert.equal(await linkExistsIn(ns, TUN), true);
  await helper.request('addAddress', { name: TUN, cidr: '10.77.0.1/24' });
  const { result } = await pingAcrossBridge(helper, ns, '10.77.0.2', 4);
  assert.equal(result.code, 0);
  await finish(helper, ns);
});

test('a missing socat or an unsafe name is a clear error, not a hang', async () => {
  await assert.rejects(
    openSocatTun({ name: 'wgtest9', socatPath: '/nonexistent/socat', readyTimeoutMs: 10_000 }),
    /cannot run socat .*ENOENT/,
  );
  await assert.rejects(openSocatTun({ name: 'wg,0' }), /invalid TUN name/);
  await assert.rejects(openSocatTun({ name: 'a-name-too-long-for-linux' }), /invalid TUN name/);
});
