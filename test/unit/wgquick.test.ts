import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatWgQuickConfig, parseWgQuickConfig } from '../../src/config/wgquick';
import type { InterfaceConfig } from '../../src/config/wgquick';
import { formatCidr } from '../../src/device/ip';
import type { Cidr } from '../../src/device/ip';

// Keys made with `wg genkey` / `wg genpsk`; expected bytes come from node's decoder.
const PRIVATE = 'IM2yWa72TEV9K9vo8wceDDG5PmiuuLrXk7krkWE8jEc=';
const PEER_A = 'APEYd0bp1AC4zJ1m+Fi67vvvojIG5YIEuL6Y8xJhzFo=';
const PEER_B = 'oCbOdVWCt8CKAizDp3BvCc0cS6G7xYLVTqoVlh36Glc=';
const PSK = 'lVJV3/oVN98UV95fTFQbSQP+5nNzlrIDWfVDqFoY71w=';
const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));
const cidrs = (list: Cidr[]): string[] => list.map(formatCidr);

const REALISTIC = `# wg0 on the office router
[Interface]
PrivateKey = ${PRIVATE}
ListenPort = 51820
FwMark = 0xca6c
Address = 10.0.0.1/24, fd00:1::1/64
Address = 192.168.77.1
MTU = 1420
DNS = 10.0.0.53, fd00:1::53
DNS = corp.example
Table = 1234
PreUp = echo pre-up %i
PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo "#1 done"
PostUp = logger up
PreDown = logger going down
PostDown = iptables -D FORWARD -i %i -j ACCEPT
SaveConfig = false

[Peer]   # branch office
PublicKey = ${PEER_A}
PresharedKey = ${PSK}
AllowedIPs = 10.0.1.0/24, 192.168.1.77/24
AllowedIPs = fd00:2::/64
Endpoint = branch.example.com:51820
PersistentKeepalive = 25

[Peer]
PublicKey = ${PEER_B}
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = [2001:db8::1]:4500
`;

test('a realistic two-peer config, field by field', () => {
  const cfg = parseWgQuickConfig(REALISTIC, 'wg0.conf');
  assert.deepEqual(cfg.privateKey, bytes(PRIVATE));
  assert.equal(cfg.listenPort, 51820);
  assert.equal(cfg.fwMark, 0xca6c);
  // Interface addresses keep their host part; a bare address is a single host.
  assert.deepEqual(cidrs(cfg.addresses), ['10.0.0.1/24', 'fd00:1::1/64', '192.168.77.1/32']);
  assert.deepEqual(cfg.addresses[0]!.bytes, new Uint8Array([10, 0, 0, 1]));
  assert.equal(cfg.addresses[1]!.family, 6);
  assert.equal(cfg.mtu, 1420);
  assert.deepEqual(cfg.dns, ['10.0.0.53', 'fd00:1::53', 'corp.example']);
  assert.equal(cfg.table, '1234');
  assert.deepEqual(cfg.preUp, ['echo pre-up %i']);
  // Commands keep '#', as wg-quick passes them to bash whole.
  assert.deepEqual(cfg.postUp, ['iptables -A FORWARD -i %i -j ACCEPT; echo "#1 done"', 'logger up']);
  assert.deepEqual(cfg.preDown, ['logger going down']);
  assert.deepEqual(cfg.postDown, ['iptables -D FORWARD -i %i -j ACCEPT']);
  assert.equal(cfg.saveConfig, false);

  assert.equal(cfg.peers.length, 2);
  const [a, b] = cfg.peers as [InterfaceConfig['peers'][0], InterfaceConfig['peers'][0]];
  assert.equal(a.line, 19);
  assert.deepEqual(a.publicKey, bytes(PEER_A));
  assert.deepEqual(a.presharedKey, bytes(PSK));
  // AllowedIPs are canonical: 192.168.1.77/24 is the 192.168.1.0/24 network.
  assert.deepEqual(cidrs(a.allowedIps), ['10.0.1.0/24', '192.168.1.0/24', 'fd00:2::/64']);
  assert.deepEqual(a.endpoint, { host: 'branch.example.com', port: 51820 });
  assert.equal(a.persistentKeepalive, 25);

  assert.equal(b.line, 27);
  assert.deepEqual(b.publicKey, bytes(PEER_B));
  assert.equal(b.presharedKey, undefined);
  assert.deepEqual(cidrs(b.allowedIps), ['0.0.0.0/0', '::/0']);
  assert.deepEqual(b.endpoint, { host: '2001:db8::1', port: 4500 });
  assert.equal(b.persistentKeepalive, undefined);
});

test('a minimal interface has empty lists and no optional values', () => {
  assert.deepEqual(parseWgQuickConfig('[Interface]\n', 'wg1.conf'), {
    addresses: [],
    dns: [],
    preUp: [],
    postUp: [],
    preDown: [],
    postDown: [],
    saveConfig: false,
    peers: [],
  });
});

test('keys and sections are case-insensitive; whitespace, comments, CRLF and a BOM are tolerated', () => {
  const text =
    '\uFEFF  # leading comment\r\n' +
    '\t[ interface ]  # trailing comment\r\n' +
    '  privatekey\t=\t' + PRIVATE + '   # the key\r\n' +
    'LISTENPORT=0\r\n' +
    '\r\n' +
    '[PEER]\r\n' +
    'publicKEY =' + PEER_A + '\r\n' +
    'allowedips = 10.0.0.0/8 ,  10.1.2.3 #, 10.9.0.0/16\r\n' +
    'Endpoint = 192.0.2.1:1';
  const cfg = parseWgQuickConfig(text, 'x.conf');
  assert.deepEqual(cfg.privateKey, bytes(PRIVATE));
  assert.equal(cfg.listenPort, 0);
  assert.equal(cfg.peers[0]!.line, 6);
  assert.deepEqual(cfg.peers[0]!.publicKey, bytes(PEER_A));
  assert.deepEqual(cidrs(cfg.peers[0]!.allowedIps), ['10.0.0.0/8', '10.1.2.3/32']);
  assert.deepEqual(cfg.peers[0]!.endpoint, { host: '192.0.2.1', port: 1 });
});

test('wg-quick value rules: word-split Address and DNS, off values, hex fwmark, last scalar wins', () => {
  const cfg = parseWgQuickConfig(
    [
      '[Peer]', // a peer may come before the interface
      `PublicKey = ${PEER_B}`,
      'AllowedIPs =', // empty: adds nothing, as in wg
      'PersistentKeepalive = OFF',
      '[Interface]',
      'Address = 10.0.0.1/24 10.0.0.2/24,,fd00::1',
      'DNS = 1.1.1.1 example.com, search.example.',
      'ListenPort = 1000',
      'ListenPort = 2000',
      'FwMark = off',
      'MTU = 576',
      'Table = off',
      'SaveConfig = TRUE',
    ].join('\n'),
    'wg0.conf',
  );
  assert.deepEqual(cidrs(cfg.addresses), ['10.0.0.1/24', '10.0.0.2/24', 'fd00::1/128']);
  assert.deepEqual(cfg.dns, ['1.1.1.1', 'example.com', 'search.example.']);
  assert.equal(cfg.listenPort, 2000);
  assert.equal(cfg.fwMark, 0);
  assert.equal(cfg.mtu, 576);
  assert.equal(cfg.table, 'off');
  assert.equal(cfg.saveConfig, true);
  assert.deepEqual(cfg.peers[0]!.allowedIps, []);
  assert.equal(cfg.peers[0]!.persistentKeepalive, 0);

  const fwmarks: [string, number][] = [['0', 0], ['51820', 51820], ['0xffffffff', 0xffffffff], ['4294967295', 0xffffffff], ['0x0', 0]];
  for (const [text, value] of fwmarks) {
    assert.equal(parseWgQuickConfig(`[Interface]\nFwMark = ${text}`, 'f.conf').fwMark, value, text);
  }
});

test('endpoints: names, IPv4, bracketed IPv6, port range edges', () => {
  const endpoint = (text: string) =>
    parseWgQuickConfig(`[Interface]\n[Peer]\nPublicKey = ${PEER_A}\nEndpoint = ${text}`, 'e.conf').peers[0]!.endpoint;
  assert.deepEqual(endpoint('1.2.3.4:51820'), { host: '1.2.3.4', port: 51820 });
  assert.deepEqual(endpoint('[::ffff:1.2.3.4]:65535'), { host: '::ffff:1.2.3.4', port: 65535 });
  assert.deepEqual(endpoint('vpn-1.example.org.:1'), { host: 'vpn-1.example.org.', port: 1 });
  assert.deepEqual(endpoint('localhost:443'), { host: 'localhost', port: 443 });
  assert.deepEqual(endpoint('_srv.x9.example:5'), { host: '_srv.x9.example', port: 5 });
});

/** Runs the parser and checks the error's file, line, field and message layout. */
function expectError(text: string, line: number, field: string | undefined, problem?: RegExp): ConfigError {
  let caught: unknown;
  try {
    parseWgQuickConfig(text, 'wg0.conf');
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for:\n${text}\ngot ${String(caught)}`);
  assert.equal(caught.file, 'wg0.conf');
  assert.equal(caught.line, line, caught.message);
  assert.equal(caught.field, field, caught.message);
  const prefix = field === undefined ? `wg0.conf:${line}: ` : `wg0.conf:${line}: ${field}: `;
  assert.equal(caught.message, prefix + caught.problem);
  assert.ok(caught.problem.length > 0);
  if (problem !== undefined) assert.match(caught.problem, problem);
  return caught;
}

const iface = (...lines: string[]): string => ['[Interface]', ...lines].join('\n');
const peer = (...lines: string[]): string => ['[Interface]', '[Peer]', ...lines].join('\n');
const peerWithKey = (...lines: string[]): string => peer(`PublicKey = ${PEER_A}`, ...lines);

test('structure errors: unknown keys and sections, keys outside sections, missing "="', () => {
  expectError(iface('# fine', 'Foo = bar'), 3, 'Foo', /unknown key in \[Interface\]/);
  expectError(iface(`PublicKey = ${PEER_A}`), 2, 'PublicKey', /belongs in \[Peer\]/);
  expectError(peerWithKey('Address = 10.0.0.1/24'), 4, 'Address', /belongs in \[Interface\]/);
  expectError(peerWithKey('ListenPort = 1'), 4, 'ListenPort', /belongs in \[Interface\]/);
  expectError(iface('[Peers]'), 2, undefined, /unknown section "\[Peers\]"/);
  expectError(iface('[Interface'), 2, undefined, /malformed section header/);
  expectError(iface('[Peer] extra'), 2, undefined, /malformed section header/);
  expectError('\nListenPort = 1\n[Interface]', 2, 'ListenPort', /outside any section/);
  expectError(iface('ListenPort 51820'), 2, 'ListenPort', /missing "="/);
  expectError(iface('   51820'), 2, undefined, /missing "="/);
  expectError(iface('= 51820'), 2, undefined, /missing key name/);
  expectError(iface('[Interface]'), 2, undefined, /second \[Interface\] section \(the first is at line 1\)/);
  expectError('', 1, undefined, /no \[Interface\] section/);
  expectError(`[Peer]\nPublicKey = ${PEER_A}\n`, 1, undefined, /no \[Interface\] section/);
});

test('key errors never echo the key text', () => {
  const almost = PRIVATE.slice(0, 43); // no '='
  const error = expectError(iface(`PrivateKey = ${almost}`), 2, 'PrivateKey', /not a valid key/);
  assert.ok(!error.message.includes(almost));
  expectError(iface('PrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB='), 2, 'PrivateKey', /not a valid key/);
  expectError(iface('PrivateKey = ' + PEER_A.replace(/\+/g, '-')), 2, 'PrivateKey', /not a valid key/);
  expectError(peer('PublicKey = hello'), 3, 'PublicKey', /not a valid key/);
  expectError(peerWithKey(`PresharedKey = ${PSK}${PSK}`), 4, 'PresharedKey', /not a valid key/);
});

test('empty values where one is required', () => {
  expectError(iface('PrivateKey ='), 2, 'PrivateKey', /empty/);
  expectError(iface('ListenPort = # none'), 2, 'ListenPort', /empty/);
  expectError(iface('MTU='), 2, 'MTU', /empty/);
  expectError(iface('FwMark ='), 2, 'FwMark', /empty/);
  expectError(iface('Table ='), 2, 'Table', /empty/);
  expectError(iface('SaveConfig ='), 2, 'SaveConfig', /empty/);
  expectError(iface('PostUp =   '), 2, 'PostUp', /empty/);
  expectError(peer('PublicKey ='), 3, 'PublicKey', /empty/);
  expectError(peerWithKey('Endpoint ='), 4, 'Endpoint', /empty/);
  expectError(peerWithKey('PersistentKeepalive ='), 4, 'PersistentKeepalive', /empty/);
});

test('numbers out of range or malformed', () => {
  for (const bad of ['65536', '-1', 'abc', '1e3', '0x10', '51820 1', '99999999999']) {
    expectError(iface(`ListenPort = ${bad}`), 2, 'ListenPort', /not a number from 0 to 65535/);
  }
  expectError(iface('MTU = 575'), 2, 'MTU', /576 to 65535/);
  expectError(iface('MTU = 65536'), 2, 'MTU', /576 to 65535/);
  for (const bad of ['0x100000000', '4294967296', '0X10', '0x', 'on', '-1', '0xfg']) {
    expectError(iface(`FwMark = ${bad}`), 2, 'FwMark', /neither off nor a number/);
  }
  expectError(peerWithKey('PersistentKeepalive = 65536'), 4, 'PersistentKeepalive', /0 to 65535/);
  expectError(peerWithKey('PersistentKeepalive = sometimes'), 4, 'PersistentKeepalive', /0 to 65535/);
  expectError(iface('SaveConfig = yes'), 2, 'SaveConfig', /neither true nor false/);
  expectError(iface('Table = main 2'), 2, 'Table', /not a routing table/);
});

test('bad addresses, allowed IPs and DNS entries', () => {
  expectError(iface('Address = 10.0.0.1/33'), 2, 'Address', /prefix length must be 0-32/);
  expectError(iface('Address = 10.0.0.1/24, fd00::1/129'), 2, 'Address', /prefix length must be 0-128/);
  expectError(iface('Address = 10.0.0.1/'), 2, 'Address', /prefix length/);
  expectError(iface('Address = 10.0.0.256/24'), 2, 'Address', /not an IPv4 or IPv6 address/);
  expectError(iface('Address = router.lan'), 2, 'Address', /not an IPv4 or IPv6 address/);
  expectError(peerWithKey('AllowedIPs = 10.0.0.0/8', 'AllowedIPs = 10.0.0.0/33'), 5, 'AllowedIPs', /10\.0\.0\.0\/33/);
  expectError(peerWithKey('AllowedIPs = 10.0.0.300/8'), 4, 'AllowedIPs', /10\.0\.0\.300/);
  expectError(peerWithKey('AllowedIPs = 10.0.0.0/8 10.1.0.0/16'), 4, 'AllowedIPs');
  expectError(peerWithKey('AllowedIPs = 10.0.0.0/8,,10.1.0.0/16'), 4, 'AllowedIPs', /empty entry/);
  expectError(peerWithKey('AllowedIPs = 10.0.0.0/8,'), 4, 'AllowedIPs', /empty entry/);
  expectError(iface('DNS = 10.0.0.300'), 2, 'DNS', /not a valid IP address/);
  expectError(iface('DNS = 1.1.1.1, fd00::zz'), 2, 'DNS', /"fd00::zz" is not a valid IP address/);
  expectError(iface('DNS = bad!domain'), 2, 'DNS', /neither an IP address nor a valid search domain/);
});

test('bad endpoints', () => {
  const cases: [string, RegExp][] = [
    ['vpn.example.com', /no ":port"/],
    ['vpn.example.com:', /port must be/],
    ['vpn.example.com:0', /port must be/],
    ['vpn.example.com:65536', /port must be/],
    ['vpn.example.com:wireguard', /port must be/],
    ['[fd00::1]51820', /no ":port" after/],
    ['[fd00::1:51820', /no closing "\]"/],
    ['[10.0.0.1]:51820', /not an IPv6 address/],
    ['[fe80::1%eth0]:51820', /zone ids/],
    ['fd00::1:51820', /in brackets/],
    ['bad_host!:51820', /neither an IPv4 address nor a valid host name/],
    ['1.2.3:51820', /neither an IPv4 address nor a valid host name/],
    ['-leading.example:1', /valid host name/],
    [':51820', /valid host name/],
  ];
  for (const [text, problem] of cases) expectError(peerWithKey(`Endpoint = ${text}`), 4, 'Endpoint', problem);
});

test('peer errors: missing public key at the [Peer] line, duplicate keys at the second key line', () => {
  expectError(iface('', '[Peer]', 'AllowedIPs = 10.0.0.0/8'), 3, 'PublicKey', /missing/);
  // A keyless peer in the middle is reported when its section ends, at its header.
  expectError(peerWithKey('[Peer]', 'Endpoint = a.example:1', '[Peer]', `PublicKey = ${PEER_B}`), 4, 'PublicKey', /missing/);
  expectError(
    peerWithKey('', '[Peer]', `PublicKey = ${PEER_B}`, '[Peer]', 'AllowedIPs = 10.9.0.0/16', `PublicKey = ${PEER_A}`),
    9,
    'PublicKey',
    /duplicate peer: the \[Peer\] at line 2/,
  );
});

test('formatWgQuickConfig output parses back to the same configuration', () => {
  const withoutLines = (cfg: InterfaceConfig) => ({ ...cfg, peers: cfg.peers.map(({ line: _line, ...rest }) => rest) });
  const samples = [
    REALISTIC,
    '[Interface]\n',
    iface('FwMark = off', 'SaveConfig = true', 'Address = 10.9.8.7/8') + `\n[Peer]\nPublicKey = ${PEER_B}\nPersistentKeepalive = 0`,
  ];
  for (const sample of samples) {
    const parsed = parseWgQuickConfig(sample, 'wg0.conf');
    const text = formatWgQuickConfig(parsed);
    const reparsed = parseWgQuickConfig(text, 'wg0.conf');
    assert.deepEqual(withoutLines(reparsed), withoutLines(parsed), text);
    assert.equal(formatWgQuickConfig(reparsed), text);
  }
  const text = formatWgQuickConfig(parseWgQuickConfig(REALISTIC, 'wg0.conf'));
  assert.match(text, /^Address = 10\.0\.0\.1\/24, fd00:1::1\/64, 192\.168\.77\.1\/32$/m);
  assert.match(text, /^FwMark = 0xca6c$/m);
  assert.match(text, /^Endpoint = \[2001:db8::1\]:4500$/m);
  assert.match(text, /^PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo "#1 done"$/m);
});

test('formatWgQuickConfig refuses values that would change meaning in the file', () => {
  const base = parseWgQuickConfig('[Interface]', 'wg0.conf');
  assert.throws(() => formatWgQuickConfig({ ...base, postUp: ['true\n[Peer]'] }), /PostUp/);
  assert.throws(() => formatWgQuickConfig({ ...base, table: 'main # x' }), /Table/);
  assert.throws(() => formatWgQuickConfig({ ...base, preDown: [''] }), /PreDown/);
});
