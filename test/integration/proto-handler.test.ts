/**
 * The netifd protocol handler (files/lib/netifd/proto/wgts.sh) under
 * test/openwrt/netifd-harness.sh, which stands in for netifd's netifd-proto.sh,
 * base-files' functions.sh and uci(1) and records every call the handler makes
 * to them; see the harness for which upstream function each stub replaces.
 * Each case runs under dash and under busybox's ash (OpenWrt's /bin/sh). The
 * daemon's userspace API socket, read for the peers' endpoints, is a fake
 * served here and reached through the real socat, as on the router.
 * Also: every shell file of the package passes shellcheck and busybox sh -n.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot } from '../helpers/netns';

const top = repoRoot();
const handler = path.join(top, 'files', 'lib', 'netifd', 'proto', 'wgts.sh');
const harness = path.join(top, 'test', 'openwrt', 'netifd-harness.sh');
const shells: [string, string[]][] = [
  ['dash', ['dash']],
  ['busybox ash', ['busybox', 'sh']],
];
const shellFiles = [
  'files/lib/netifd/proto/wgts.sh',
  'files/etc/init.d/wgts',
  'files/usr/bin/wgts',
  'scripts/build-ipk.sh',
  'test/openwrt/netifd-harness.sh',
];

function available(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

const key = () => randomBytes(32).toString('base64');
const keys = { wg0: key(), b: key(), c: key(), d: key(), e: key(), f: key() };

/** /etc/config/network as `uci export` prints it. */
function network(wg0Options: string): string {
  return `package network

config interface 'lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wg0'
	option proto 'wgts'
${wg0Options}
config wgts_wg0 'office_b'
	option public_key '${keys.b}'
	option description 'office B'
	list allowed_ips '10.99.0.2/32'
	list allowed_ips '192.168.20.0/24'
	list allowed_ips 'fd99::2'
	option route_allowed_ips '1'
	option endpoint_host '203.0.113.20'
	option endpoint_port '51820'

config wgts_wg0
	option public_key '${keys.c}'
	list allowed_ips '192.168.30.0/24'
	option route_allowed_ips '0'
	option endpoint_host 'office-c.example.net'

config wgts_wg0
	option public_key '${keys.d}'
	option disabled '1'
	list allowed_ips '192.168.40.0/24'
	option route_allowed_ips '1'

config wgts_wg0
	option public_key '${keys.e}'
	list allowed_ips '0.0.0.0/0'
	list allowed_ips '::/0'
	option route_allowed_ips 'yes'

config wgts_wg0
	list allowed_ips '192.168.50.0/24'
	option route_allowed_ips '1'

config wgts_wg1
	option public_key '${keys.f}'
	list allowed_ips '172.16.0.0/12'
	option route_allowed_ips '1'
`;
}

const fullInterface = `	option private_key '${keys.wg0}'
	option listen_port '51820'
	list addresses '10.99.0.1/24'
	list addresses 'fd99::1/64'
	list addresses '10.99.1.1'
	list ip6prefix 'fd00:abcd::/48'
`;

const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
/** What the daemon answers to `get=1` on /var/run/wireguard/wg0.sock (cross-platform UAPI). */
const uapiReply = [
  `private_key=${hex(keys.wg0)}`,
  'listen_port=51820',
  `public_key=${hex(keys.b)}`,
  'endpoint=203.0.113.20:51820',
  'allowed_ip=10.99.0.2/32',
  `public_key=${hex(keys.c)}`,
  'endpoint=[2001:db8::c]:51821',
  'allowed_ip=192.168.30.0/24',
  `public_key=${hex(keys.e)}`,
  'allowed_ip=0.0.0.0/0',
  'errno=0',
  '',
  '',
].join('\n');

/** A stand-in for the daemon's userspace API socket: answers one `get=1`, counts requests. */
class FakeUapi {
  readonly requests: string[] = [];
  private server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let request = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (request += chunk));
    socket.on('end', () => {
      this.requests.push(request);
      socket.end(uapiReply);
    });
  });
  constructor(readonly dir: string) {}
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(path.join(this.dir, 'wg0.sock'), resolve));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let work: string;
let uapi: FakeUapi;
let noUapiDir: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-proto-'));
  const dir = path.join(work, 'uapi');
  noUapiDir = path.join(work, 'no-daemon');
  fs.mkdirSync(dir);
  fs.mkdirSync(noUapiDir);
  uapi = new FakeUapi(dir);
  await uapi.listen();
});

after(async () => {
  await uapi?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

interface HarnessRun {
  calls: string[][];
  stderr: string;
}

/** Runs one handler action; async, so that the fake socket can answer meanwhile. */
async function runHandler(
  shell: string[],
  networkText: string,
  action: string,
  env: Record<string, string> = {},
): Promise<HarnessRun> {
  const dir = fs.mkdtempSync(path.join(work, 'case-'));
  fs.writeFileSync(path.join(dir, 'network'), networkText);
  const child = spawn(shell[0]!, [...shell.slice(1), harness, handler, dir, action, 'wg0'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HARNESS_UAPI_DIR: uapi.dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `harness failed: ${stderr}`);
  const calls = fs
    .readFileSync(path.join(dir, 'calls'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => line.split('|'));
  return { calls, stderr };
}

const reportsFull = [
  ['proto_init_update', 'wg0', '1'],
  ['proto_add_ipv4_address', '10.99.0.1', '24'],
  ['proto_add_ipv6_address', 'fd99::1', '64'],
  ['proto_add_ipv4_address', '10.99.1.1', '32'],
  ['proto_add_ipv6_prefix', 'fd00:abcd::/48'],
  // office_b: its allowed IPs; a bare address is a host route.
  ['proto_add_ipv4_route', '10.99.0.2', '32'],
  ['proto_add_ipv4_route', '192.168.20.0', '24'],
  ['proto_add_ipv6_route', 'fd99::2', '128'],
  // Peer c has route_allowed_ips 0, d is disabled; e routes everything, as the
  // kernel handler does; the peer without a public key and wg1's peer are skipped.
  ['proto_add_ipv4_route', '0.0.0.0', '0'],
  ['proto_add_ipv6_route', '::', '0'],
];

for (const [shellName, shell] of shells) {
  const skip = available(shell[0]!) ? false : `${shell[0]} is not installed`;

  test(`${shellName}: dump declares the kernel wireguard proto's options and the handler's flags`, { skip }, async () => {
    const { calls } = await runHandler(shell, network(fullInterface), 'dump');
    assert.deepEqual(calls, [
      ['proto_config_add_string', 'private_key'],
      ['proto_config_add_int', 'listen_port'],
      ['proto_config_add_int', 'mtu'],
      ['proto_config_add_string', 'fwmark'],
      ['proto_config_add_string', 'addresses'],
      ['proto_config_add_array', 'ip6prefix'],
      ['proto_config_add_boolean', 'nohostroute'],
      ['flags', 'available=1', 'no_device=', 'no_proto_task=1', 'renew_handler=1', 'teardown_on_l3_link_down=1'],
    ]);
  });

  test(`${shellName}: setup brings the interface up, then reports addresses, routes and endpoint hosts`, { skip }, async () => {
    const before = uapi.requests.length;
    const { calls } = await runHandler(shell, network(fullInterface), 'setup');
    assert.deepEqual(calls, [
      ['config_load', 'network'],
      ['wgts', 'ifup', 'wg0'],
      ...reportsFull,
      // The endpoints the daemon uses, host names already resolved by it.
      ['proto_add_host_dependency', 'wg0', '203.0.113.20'],
      ['proto_add_host_dependency', 'wg0', '2001:db8::c'],
      ['proto_send_update', 'wg0'],
      ['exit', '0'],
    ]);
    assert.deepEqual(uapi.requests.slice(before), ['get=1\n\n'], 'one userspace API get');
  });

  test(`${shellName}: renew does what setup does`, { skip }, async () => {
    const { calls } = await runHandler(shell, network(fullInterface), 'renew');
    assert.deepEqual(calls.slice(0, 2 + reportsFull.length), [['config_load', 'network'], ['wgts', 'ifup', 'wg0'], ...reportsFull]);
    assert.deepEqual(calls.at(-1), ['exit', '0']);
  });

  test(`${shellName}: nohostroute 1 adds no host dependencies and does not ask the daemon`, { skip }, async () => {
    const before = uapi.requests.length;
    const { calls } = await runHandler(shell, network(`${fullInterface}	option nohostroute '1'\n`), 'setup');
    assert.deepEqual(calls, [['config_load', 'network'], ['wgts', 'ifup', 'wg0'], ...reportsFull, ['proto_send_update', 'wg0'], ['exit', '0']]);
    assert.equal(uapi.requests.length, before);
  });

  test(`${shellName}: without the userspace API socket setup still succeeds, without host routes`, { skip }, async () => {
    const { calls, stderr } = await runHandler(shell, network(fullInterface), 'setup', { HARNESS_UAPI_DIR: noUapiDir });
    assert.deepEqual(calls, [['config_load', 'network'], ['wgts', 'ifup', 'wg0'], ...reportsFull, ['proto_send_update', 'wg0'], ['exit', '0']]);
    assert.match(stderr, /wgts: wg0: cannot read the peer endpoints/);
  });

  test(`${shellName}: private_key 'generate' (or none) is replaced by a new key, committed before ifup`, { skip }, async () => {
    for (const option of ["	option private_key 'generate'\n", '']) {
      const generated = key();
      const { calls } = await runHandler(shell, network(`${option}	list addresses '10.99.0.1/24'\n	option nohostroute '1'\n`), 'setup', {
        HARNESS_GENKEY: generated,
      });
      assert.deepEqual(calls.slice(0, 6), [
        ['config_load', 'network'],
        ['wgts', 'genkey'],
        ['uci', '-q', 'set', `network.wg0.private_key=${generated}`],
        ['uci', '-q', 'commit', 'network'],
        ['wgts', 'ifup', 'wg0'],
        ['proto_init_update', 'wg0', '1'],
      ]);
      assert.deepEqual(calls.at(-1), ['exit', '0']);
    }
  });

  test(`${shellName}: a key that cannot be generated fails the setup before ifup`, { skip }, async () => {
    const { calls, stderr } = await runHandler(shell, network("	option private_key 'generate'\n"), 'setup');
    assert.deepEqual(calls, [
      ['config_load', 'network'],
      ['wgts', 'genkey'],
      ['proto_notify_error', 'wg0', 'PRIVATE_KEY_GENERATION_FAILED', 'cannot generate a private key'],
      ['sleep', '5'],
      ['proto_setup_failed', 'wg0'],
      ['exit', '1'],
    ]);
    assert.match(stderr, /wgts: wg0: cannot generate a private key/);
  });

  test(`${shellName}: a failing ifup reports the daemon's reason and fails the setup, after a pause`, { skip }, async () => {
    const reason = "wgts: ifup wg0: /etc/config/network:9: interface 'wg0': option private_key: not a valid key";
    const { calls, stderr } = await runHandler(shell, network(fullInterface), 'setup', { HARNESS_IFUP_ERROR: reason });
    assert.deepEqual(calls, [
      ['config_load', 'network'],
      ['wgts', 'ifup', 'wg0'],
      ['proto_notify_error', 'wg0', 'IFUP_FAILED', reason],
      ['sleep', '5'],
      ['proto_setup_failed', 'wg0'],
      ['exit', '1'],
    ]);
    assert.ok(stderr.includes(`wgts: wg0: ${reason}`), 'the reason is logged (netifd logs handler output)');
  });

  test(`${shellName}: teardown asks the daemon to take the interface down, and never fails`, { skip }, async () => {
    const down = await runHandler(shell, network(fullInterface), 'teardown');
    assert.deepEqual(down.calls, [['wgts', 'ifdown', 'wg0'], ['exit', '0']]);
    const failing = await runHandler(shell, network(fullInterface), 'teardown', { HARNESS_IFDOWN_ERROR: 'daemon not running' });
    assert.deepEqual(failing.calls, [['wgts', 'ifdown', 'wg0'], ['exit', '0']]);
    assert.match(failing.stderr, /wgts: wg0: daemon not running/);
  });
}

test('the tools these tests need are installed', () => {
  for (const tool of ['shellcheck', 'busybox', 'dash', 'socat']) {
    assert.ok(available(tool), `${tool} is missing: apt-get install ${tool}`);
  }
});

test('every shell file is shellcheck clean and parses under busybox sh', () => {
  assert.ok(available('shellcheck'), 'shellcheck is missing: apt-get install shellcheck');
  const r = spawnSync('shellcheck', shellFiles, { cwd: top, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const file of shellFiles.filter((f) => !f.startsWith('scripts/'))) {
    const parse = spawnSync('busybox', ['sh', '-n', file], { cwd: top, encoding: 'utf8' });
    assert.equal(parse.status, 0, `${file}: ${parse.stderr}`);
  }
});
