import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readWgtsInterfaces } from '../../src/openwrt/network-config';
import type { InterfaceProblem, WgtsInterfaceConfig } from '../../src/openwrt/network-config';
import { parseUci } from '../../src/openwrt/uci';
import { formatCidr, formatIp } from '../../src/device/ip';
import type { Cidr } from '../../src/device/ip';

// Made with `wg genkey`; the expected bytes come from node's own base64 decoder.
const HQ_PRIVATE = '+NDj/Op/KHs+7CIO9Amlwinm0F/vONxCHixSac+kPHU=';
const BRANCH_PUBLIC = 'iF8ItltH/DYBiqjxEUMIr/Ucq12GkfwpqA98hnNfl3g=';
const LAB_PUBLIC = 'oCWjmDCxOFvo8zNZR0b2LS4tD5VAnUM3Ey8penfMSHs=';
const LAPTOP_PUBLIC = 'IOts5Vax4a6t8s4qB8yEgIzPZy9IinpMkiEyZriTPHo=';
const PSK = 'qOgAJD2JsGkHQKdXJWfIrU6BBJMNix48TMaCqZI9T38=';
const ALL_KEYS = [HQ_PRIVATE, BRANCH_PUBLIC, LAB_PUBLIC, LAPTOP_PUBLIC, PSK];

const FILE = '/etc/config/network';
const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));
const cidrs = (list: Cidr[]): string[] => list.map(formatCidr);
/** Interface addresses keep their host part, which formatCidr would print as-is. */
const addresses = (list: Cidr[]): string[] => list.map((c) => `${formatIp(c.bytes)}/${c.prefixLength}`);

function read(text: string): { interfaces: Map<string, WgtsInterfaceConfig>; problems: InterfaceProblem[] } {
  return readWgtsInterfaces(parseUci(text, FILE, 'network'));
}

// The head office router: two wgts tunnels (branch office, lab), a kernel
// wireguard interface and the usual lan/wan, which wgts must leave alone.
const HQ = `
config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'wan'
	option proto 'dhcp'

config interface 'wg0'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
	option listen_port '51820'
	list addresses '10.0.0.1/24'
	list addresses 'fd00:0:0:1::1/64'
	option mtu '1420'
	option fwmark '0xca6c'
	list ip6prefix 'fd00:1::/48'

config wgts_wg0 'branch'
	option description 'branch office'
	option public_key '${BRANCH_PUBLIC}'
	option preshared_key '${PSK}'
	list allowed_ips '10.0.0.2/32'
	list allowed_ips '192.168.2.77/24'
	option route_allowed_ips '1'
	option endpoint_host 'branch.example.org'
	option persistent_keepalive '25'

config wgts_wg0
	option description 'old laptop'
	option public_key '${LAPTOP_PUBLIC}'
	list allowed_ips '10.0.0.9/32'
	option disabled '1'

config interface 'wg1'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
	option listen_port '51821'
	option addresses '10.9.0.1/30 fd00:9::1'
	option nohostroute '1'
	option auto '0'

config wgts_wg1
	option public_key '${LAB_PUBLIC}'
	option allowed_ips '10.9.0.2 10.99.0.0/16'
	option endpoint_host '[2001:db8::7]'
	option endpoint_port '4500'

config interface 'wg2'
	option proto 'wgts'
	option disabled '1'
	option private_key 'generate'

config wgts_wg2
	option public_key 'not even a key'

config interface 'kernelwg'
	option proto 'wireguard'
	option private_key 'generate'
`;

test('reads the wgts interfaces of a head office router and nothing else', () => {
  const { interfaces, problems } = read(HQ);
  assert.deepEqual(problems, []);
  assert.deepEqual([...interfaces.keys()], ['wg0', 'wg1']);

  const wg0 = interfaces.get('wg0')!;
  assert.equal(wg0.settings.name, 'wg0');
  assert.deepEqual(wg0.settings.privateKey, bytes(HQ_PRIVATE));
  assert.equal(wg0.settings.listenPort, 51820);
  assert.equal(wg0.settings.mtu, 1420);
  assert.equal(wg0.settings.fwMark, 0xca6c);
  assert.deepEqual(addresses(wg0.settings.addresses), ['10.0.0.1/24', 'fd00:0:0:1::1/64']);
  assert.deepEqual(wg0.ip6prefix, ['fd00:1::/48']);
  assert.equal(wg0.auto, true);
  assert.equal(wg0.nohostroute, false);
  // The disabled laptop is left out; peers and their metadata stay parallel.
  assert.equal(wg0.settings.peers.length, 1);
  assert.deepEqual(wg0.settings.peers[0], {
    publicKey: bytes(BRANCH_PUBLIC),
    presharedKey: bytes(PSK),
    allowedIps: wg0.settings.peers[0]!.allowedIps,
    endpoint: { host: 'branch.example.org', port: 51820 },
    persistentKeepalive: 25,
  });
  assert.deepEqual(cidrs(wg0.settings.peers[0]!.allowedIps), ['10.0.0.2/32', '192.168.2.0/24']);
  assert.deepEqual(wg0.peers, [{ description: 'branch office', routeAllowedIps: true, endpointHost: 'branch.example.org' }]);

  const wg1 = interfaces.get('wg1')!;
  assert.equal(wg1.settings.listenPort, 51821);
  assert.equal(wg1.settings.mtu, undefined);
  assert.equal(wg1.settings.fwMark, undefined);
  assert.deepEqual(addresses(wg1.settings.addresses), ['10.9.0.1/30', 'fd00:9::1/128']);
  assert.equal(wg1.auto, false);
  assert.equal(wg1.nohostroute, true);
  assert.deepEqual(wg1.ip6prefix, []);
  assert.deepEqual(wg1.settings.peers.map((p) => ({ ...p, allowedIps: cidrs(p.allowedIps) })), [
    { publicKey: bytes(LAB_PUBLIC), allowedIps: ['10.9.0.2/32', '10.99.0.0/16'], endpoint: { host: '2001:db8::7', port: 4500 } },
  ]);
  assert.deepEqual(wg1.peers, [{ routeAllowedIps: false, endpointHost: '2001:db8::7' }]);
});

test('the branch office side of the same tunnel', () => {
  const branch = `
config interface 'wg0'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
	list addresses '10.0.0.2/24'

config wgts_wg0 'hq'
	option public_key '${LAB_PUBLIC}'
	option preshared_key '${PSK}'
	list allowed_ips '10.0.0.0/24'
	list allowed_ips '192.168.1.0/24'
	option route_allowed_ips 'yes'
	option endpoint_host '203.0.113.5'
	option endpoint_port '51820'
	option persistent_keepalive 'off'
`;
  const { interfaces, problems } = read(branch);
  assert.deepEqual(problems, []);
  const wg0 = interfaces.get('wg0')!;
  assert.equal(wg0.settings.listenPort, undefined);
  assert.deepEqual(wg0.settings.peers[0]!.endpoint, { host: '203.0.113.5', port: 51820 });
  assert.equal(wg0.settings.peers[0]!.persistentKeepalive, 0);
  assert.deepEqual(wg0.peers, [{ routeAllowedIps: true, endpointHost: '203.0.113.5' }]);
});

test("'generate' is a problem for the daemon: the proto handler replaces it first", () => {
  const text = HQ.replace(`option private_key '${HQ_PRIVATE}'\n\toption listen_port '51821'`, "option private_key 'generate'\n\toption listen_port '51821'");
  assert.notEqual(text, HQ);
  const { interfaces, problems } = read(text);
  assert.deepEqual([...interfaces.keys()], ['wg0']);
  assert.equal(problems.length, 1);
  const line = text.split('\n').indexOf("\toption private_key 'generate'") + 1;
  assert.deepEqual({ ...problems[0]!, problem: undefined, message: undefined }, {
    interfaceName: 'wg1',
    section: 'wg1',
    option: 'private_key',
    line,
    problem: undefined,
    message: undefined,
  });
  assert.match(problems[0]!.message, new RegExp(`^${FILE}:${line}: section 'wg1' option 'private_key': not generated yet`));
});

/** A good tunnel, then wg1 with one line replaced by a bad one. */
function withBrokenWg1(bad: string, peerBad = ''): { text: string; line: number } {
  const text = `
config interface 'wg0'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
	list addresses '10.0.0.1/24'

config wgts_wg0
	option public_key '${BRANCH_PUBLIC}'
	list allowed_ips '10.0.0.2/32'

config interface 'wg1'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
	list addresses '10.9.0.1/30'
${bad}

config wgts_wg1
	option public_key '${LAB_PUBLIC}'
	list allowed_ips '10.9.0.2/32'
${peerBad}
`;
  const marked = (bad || peerBad).split('\n')[0]!;
  return { text, line: text.split('\n').indexOf(marked) + 1 };
}

test('one malformed value fails that interface only, naming file, line, section and option', () => {
  const wrongKey = HQ_PRIVATE.slice(0, 20) + '!' + HQ_PRIVATE.slice(21);
  const interfaceCases: [string, string, RegExp][] = [
    [`\toption private_key '${wrongKey}'`, 'private_key', /not a valid key/],
    [`\toption private_key '${HQ_PRIVATE.slice(0, 43)}'`, 'private_key', /not a valid key/],
    ["\tlist addresses '10.9.0.300/30'", 'addresses', /"10.9.0.300\/30" is not an IP address/],
    ["\tlist addresses '10.9.0.1/33'", 'addresses', /is not an IP address with an optional \/prefix length/],
    ["\toption listen_port '65536'", 'listen_port', /^not a port number \(0-65535\)$/],
    ["\toption listen_port 'http'", 'listen_port', /not a port number/],
    ["\toption mtu '9'", 'mtu', /not an MTU \(576-65535\)/],
    ["\toption mtu '1420 '", 'mtu', /not an MTU/],
    ["\toption fwmark '0x1ffffffff'", 'fwmark', /not a firewall mark/],
    ["\tlist ip6prefix '10.0.0.0/8'", 'ip6prefix', /not an IPv6 prefix/],
    ["\toption nohostroute 'sometimes'", 'nohostroute', /not a boolean/],
    ["\tlist listen_port '51820'", 'listen_port', /expected a single value/],
    ["\toption disabled 'maybe'", 'disabled', /not a boolean/],
  ];
  const peerCases: [string, string, RegExp][] = [
    [`\toption preshared_key '${wrongKey}'`, 'preshared_key', /not a valid key/],
    ["\tlist allowed_ips '10.9.0.0/40'", 'allowed_ips', /"10.9.0.0\/40" is not an IP address or prefix/],
    ["\tlist allowed_ips 'fd00::/64x'", 'allowed_ips', /is not an IP address or prefix/],
    ["\toption endpoint_port '0'", 'endpoint_port', /not a port number \(1-65535\)/],
    ["\toption endpoint_host 'bad host.example'", 'endpoint_host', /not an IP address or host name/],
    ["\toption endpoint_host '[10.0.0.1]'", 'endpoint_host', /not an IPv6 address inside the brackets/],
    ["\toption endpoint_host 'fe80::1%br-lan'", 'endpoint_host', /zone ids/],
    ["\toption endpoint_host '10.0.0.256'", 'endpoint_host', /not an IP address or host name/],
    ["\toption persistent_keepalive '-1'", 'persistent_keepalive', /not a keepalive interval/],
    ["\toption persistent_keepalive '70000'", 'persistent_keepalive', /not a keepalive interval/],
    ["\toption route_allowed_ips '2'", 'route_allowed_ips', /not a boolean/],
    ["\toption disabled 'nah'", 'disabled', /not a boolean/],
  ];
  const cases = [
    ...interfaceCases.map(([bad, option, problem]) => ({ ...withBrokenWg1(bad), option, problem, section: 'wg1' })),
    ...peerCases.map(([bad, option, problem]) => ({ ...withBrokenWg1('', bad), option, problem, section: '@wgts_wg1[0]' })),
  ];
  for (const { text, line, option, problem, section } of cases) {
    const { interfaces, problems } = read(text);
    assert.deepEqual([...interfaces.keys()], ['wg0'], text);
    assert.equal(interfaces.get('wg0')!.settings.peers.length, 1);
    assert.equal(problems.length, 1, `${text}\n${problems.map((p) => p.message).join('\n')}`);
    const p = problems[0]!;
    assert.equal(p.interfaceName, 'wg1');
    assert.equal(p.section, section);
    assert.equal(p.option, option);
    assert.equal(p.line, line, p.message);
    assert.match(p.problem, problem);
    assert.equal(p.message, `${FILE}:${line}: section '${section}' option '${option}': ${p.problem}`);
  }
});

test('every problem of a broken interface is listed, and its good neighbour still comes up', () => {
  const { text } = withBrokenWg1("\toption listen_port '99999'\n\tlist addresses 'x/24'", "\toption endpoint_host '::1::2'");
  const { interfaces, problems } = read(text);
  assert.deepEqual([...interfaces.keys()], ['wg0']);
  assert.deepEqual(
    problems.map((p) => [p.interfaceName, p.section, p.option]),
    [
      ['wg1', 'wg1', 'listen_port'],
      ['wg1', 'wg1', 'addresses'],
      ['wg1', '@wgts_wg1[0]', 'endpoint_host'],
    ],
  );
});

test('missing keys, duplicate peers and over-long names are problems too', () => {
  const missing = `
config interface 'wg0'
	option proto 'wgts'

config wgts_wg0 'nokey'
	list allowed_ips '10.0.0.2/32'

config wgts_wg0 'first'
	option public_key '${BRANCH_PUBLIC}'

config wgts_wg0 'again'
	option public_key '${BRANCH_PUBLIC}'

config interface 'wg_much_too_long'
	option proto 'wgts'
	option private_key '${HQ_PRIVATE}'
`;
  const { interfaces, problems } = read(missing);
  assert.equal(interfaces.size, 0);
  assert.deepEqual(
    problems.map((p) => [p.interfaceName, p.section, p.option, p.line]),
    [
      ['wg0', 'wg0', 'private_key', 2],
      ['wg0', 'nokey', 'public_key', 5],
      ['wg0', 'again', 'public_key', 12],
      ['wg_much_too_long', 'wg_much_too_long', undefined, 14],
    ],
  );
  assert.match(problems[2]!.problem, /same public key as peer section 'first' \(line 9\)/);
  assert.equal(problems[3]!.message, `${FILE}:14: section 'wg_much_too_long': ${problems[3]!.problem}`);
});

test('endpoints: IPv4, IPv6 with or without brackets, host names, default port', () => {
  const hosts: [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['2001:db8::1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['vpn.example.org', 'vpn.example.org'],
    ['vpn.example.org.', 'vpn.example.org.'],
    ['router', 'router'],
  ];
  for (const [written, host] of hosts) {
    const { text } = withBrokenWg1('', `\toption endpoint_host '${written}'`);
    const { interfaces, problems } = read(text);
    assert.deepEqual(problems, [], written);
    const wg1 = interfaces.get('wg1')!;
    assert.deepEqual(wg1.settings.peers[0]!.endpoint, { host, port: 51820 });
    assert.equal(wg1.peers[0]!.endpointHost, host);
  }
  // A port alone is no endpoint.
  const { interfaces } = read(withBrokenWg1('', "\toption endpoint_port '1234'").text);
  assert.equal(interfaces.get('wg1')!.settings.peers[0]!.endpoint, undefined);
});

test('no key material in any message', () => {
  const cases = [
    withBrokenWg1(`\toption listen_port '${PSK}'`),
    withBrokenWg1(`\tlist addresses '${PSK}'`),
    withBrokenWg1(`\tlist ip6prefix '${PSK}'`),
    withBrokenWg1(`\toption private_key '${HQ_PRIVATE.slice(1)}'`),
    withBrokenWg1(`\toption private_key '${HQ_PRIVATE} '`),
    withBrokenWg1('', `\tlist allowed_ips '${PSK}'`),
    withBrokenWg1('', `\toption endpoint_host '${PSK}'`),
    withBrokenWg1('', `\toption preshared_key '${PSK}x'`),
    withBrokenWg1('', `\toption public_key '${LAB_PUBLIC.replace('=', 'A')}'`),
  ];
  for (const { text } of cases) {
    const { problems } = read(text);
    assert.equal(problems.length, 1, text);
    const p = problems[0]!;
    for (const key of ALL_KEYS) {
      for (const part of [key.slice(0, 16), key.slice(16, 32), key.slice(28)]) {
        assert.ok(!p.message.includes(part) && !p.problem.includes(part), p.message);
      }
    }
  }
});
