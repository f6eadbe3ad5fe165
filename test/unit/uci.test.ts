import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UciError,
  anonymousSectionName,
  formatUci,
  lookupSection,
  parseUci,
  sectionRef,
} from '../../src/openwrt/uci';
import type { UciPackage, UciSection } from '../../src/openwrt/uci';

const FILE = '/etc/config/network';

/** Sections without line numbers: what a round trip must preserve. */
function shape(pkg: UciPackage): unknown[] {
  return pkg.sections.map((s) => ({
    type: s.type,
    name: s.name,
    anonymous: s.anonymous,
    options: [...s.options].map(([name, v]) => [name, v.kind, v.values]),
  }));
}

function section(pkg: UciPackage, name: string): UciSection {
  const found = pkg.sections.find((s) => s.name === name);
  assert.ok(found, `section ${name} exists`);
  return found;
}

function values(s: UciSection, option: string): string[] | undefined {
  return s.options.get(option)?.values;
}

/** Parses and returns the UciError, failing the test if there is none. */
function parseError(text: string): UciError {
  try {
    parseUci(text, FILE, 'network');
  } catch (e) {
    assert.ok(e instanceof UciError, `expected a UciError, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected a syntax error in ${JSON.stringify(text)}`);
}

// Modelled on a stock OpenWrt 23.05 /etc/config/network plus a wgts tunnel.
const NETWORK = `
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'
	option ula_prefix 'fd12:3456:789a::/48'
	option packet_steering '1'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1'
	list ports 'lan2'
	list ports 'lan3'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'
	option ip6assign '60'

config interface 'wan'
	option device 'wan'
	option proto 'dhcp'

# site-to-site tunnel, see wgts(8)
config interface 'wg0'
	option proto 'wgts'
	option private_key 'generate'
	list addresses '10.0.0.1/24'

config wgts_wg0
	option description 'branch office'
	list allowed_ips '10.0.1.0/24'
	option route_allowed_ips '1'
`;

test('reads a stock /etc/config/network: named and anonymous sections, options, lists, comments', () => {
  const pkg = parseUci(NETWORK, FILE, 'network');
  assert.equal(pkg.name, 'network');
  assert.equal(pkg.file, FILE);
  assert.deepEqual(
    pkg.sections.map((s) => [s.type, s.name, s.anonymous]),
    [
      ['interface', 'loopback', false],
      ['globals', 'globals', false],
      ['device', anonymousSectionName(3, 'device'), true],
      ['interface', 'lan', false],
      ['interface', 'wan', false],
      ['interface', 'wg0', false],
      ['wgts_wg0', anonymousSectionName(7, 'wgts_wg0'), true],
    ],
  );
  const loopback = section(pkg, 'loopback');
  assert.equal(loopback.line, 2);
  assert.deepEqual([...loopback.options.keys()], ['device', 'proto', 'ipaddr', 'netmask']);
  assert.deepEqual(loopback.options.get('ipaddr'), { kind: 'option', values: ['127.0.0.1'], line: 5, valueLines: [5] });
  const bridge = pkg.sections[2]!;
  assert.deepEqual(bridge.options.get('ports'), { kind: 'list', values: ['lan1', 'lan2', 'lan3'], line: 15, valueLines: [15, 16, 17] });
  assert.equal(section(pkg, 'wg0').line, 31);
});

test('anonymous sections are named cfgNNHHHH like uci: section counter, then a hash of the type', () => {
  // The names every OpenWrt user has seen in `uci show`: dhcp's first dnsmasq and system's system section.
  assert.equal(anonymousSectionName(1, 'dnsmasq'), 'cfg01411c');
  assert.equal(anonymousSectionName(1, 'system'), 'cfg01e48a');
  assert.equal(anonymousSectionName(0x1a, 'system'), 'cfg1ae48a');
  assert.equal(anonymousSectionName(0x123, 'system'), 'cfg123e48a');

  const dhcp = parseUci("config dnsmasq\n\toption domainneeded '1'\n\nconfig dhcp 'lan'\n\nconfig host\nconfig host\n", '/etc/config/dhcp', 'dhcp');
  assert.deepEqual(
    dhcp.sections.map((s) => s.name),
    ['cfg01411c', 'lan', anonymousSectionName(3, 'host'), anonymousSectionName(4, 'host')],
  );
  // Named sections count too, and the two hosts differ only in their counter.
  assert.notEqual(dhcp.sections[2]!.name, dhcp.sections[3]!.name);
  assert.equal(dhcp.sections[2]!.name.slice(5), dhcp.sections[3]!.name.slice(5));
});

test('sections are found by name, by cfg name and as @type[index], and shown as uci show does', () => {
  const pkg = parseUci(NETWORK, FILE, 'network');
  const peer = pkg.sections[6]!;
  assert.equal(lookupSection(pkg, 'lan'), section(pkg, 'lan'));
  assert.equal(lookupSection(pkg, peer.name), peer);
  assert.equal(lookupSection(pkg, '@wgts_wg0[0]'), peer);
  assert.equal(lookupSection(pkg, '@wgts_wg0[-1]'), peer);
  assert.equal(lookupSection(pkg, '@interface[1]'), section(pkg, 'lan'));
  assert.equal(lookupSection(pkg, '@interface[-1]'), section(pkg, 'wg0'));
  assert.equal(lookupSection(pkg, '@[2]'), pkg.sections[2]);
  assert.equal(lookupSection(pkg, '@interface[4]'), undefined);
  assert.equal(lookupSection(pkg, '@interface[x]'), undefined);
  assert.equal(lookupSection(pkg, 'nosuch'), undefined);
  assert.equal(sectionRef(pkg, peer), '@wgts_wg0[0]');
  assert.equal(sectionRef(pkg, pkg.sections[2]!), '@device[0]');
  assert.equal(sectionRef(pkg, section(pkg, 'lan')), 'lan');
});

test('quoting: single, double, unquoted, escapes, joined pieces', () => {
  const text = [
    'config test t',
    `\toption single 'a "b" \\n #c; d'`,
    `\toption double "a 'b' \\"c\\" \\\\ \\$d #e"`,
    '\toption bare abc\\ def\\#g',
    `\toption joined ab'c d'"e f"g`,
    `\toption apostrophe 'it'\\''s'`,
    `\toption hash_mid value#comment here`,
    `\toption hash_after 'value' # a comment`,
    '\toption empty_dq "" # sets nothing',
  ].join('\n');
  const s = parseUci(text, FILE, 'network').sections[0]!;
  assert.deepEqual(values(s, 'single'), ['a "b" \\n #c; d']);
  assert.deepEqual(values(s, 'double'), [`a 'b' "c" \\ $d #e`]);
  assert.deepEqual(values(s, 'bare'), ['abc def#g']);
  assert.deepEqual(values(s, 'joined'), ['abc de fg']);
  assert.deepEqual(values(s, 'apostrophe'), ["it's"]);
  assert.deepEqual(values(s, 'hash_mid'), ['value']);
  assert.deepEqual(values(s, 'hash_after'), ['value']);
  assert.equal(s.options.has('empty_dq'), false);
  // The command word is not an argument: uci's strtok sees '"option"' and rejects it.
  assert.equal(parseError(text + '\n\t"option" "quoted_name" x\n').line, 10);
});

test('multi-line values and line continuations keep line numbers right', () => {
  // From uci's own test data (show_parsing_multiline.data).
  const text = [
    'config main',
    '        option version  1.4.1',
    '',
    "config sockd 'instance0'",
    '        option enabled  1',
    '        list internal_network   vpn',
    '',
    "        option extra_config '",
    '\t\tuser.unprivileged: nobody',
    '\t\tclient pass {',
    '\t\t} \'',
    '\toption joined "first \\',
    'second"',
    '\toption bare one\\',
    'two',
    '\tlist crlf a\r',
    '\tlist crlf "b\\\r',
    'c"\r',
    '\toption last 1',
  ].join('\n');
  const pkg = parseUci(text, '/etc/config/sockd', 'sockd');
  const s = section(pkg, 'instance0');
  assert.deepEqual(values(section(pkg, pkg.sections[0]!.name), 'version'), ['1.4.1']);
  assert.deepEqual(values(s, 'extra_config'), ['\n\t\tuser.unprivileged: nobody\n\t\tclient pass {\n\t\t} ']);
  assert.equal(s.options.get('extra_config')!.line, 8);
  assert.deepEqual(values(s, 'joined'), ['first second']);
  assert.equal(s.options.get('joined')!.line, 12);
  assert.deepEqual(values(s, 'bare'), ['onetwo']);
  assert.deepEqual(s.options.get('crlf'), { kind: 'list', values: ['a', 'bc'], line: 16, valueLines: [16, 17] });
  assert.equal(s.options.get('last')!.line, 19);
});

test('option and list rules: last option wins, lists accumulate, option and list convert', () => {
  const text = `
config interface 'wg0'
	option mtu '1400'
	option mtu '1420'
	list addresses '10.0.0.1/24'
	list addresses 'fd00::1/64'
	option dns '10.0.0.53'
	list dns '10.0.0.54'
	list ip6prefix 'fd00:1::/48'
	option ip6prefix 'fd00:2::/48'
	option proto ''
	list empty ''
	list empty
`;
  const s = parseUci(text, FILE, 'network').sections[0]!;
  assert.deepEqual(s.options.get('mtu'), { kind: 'option', values: ['1420'], line: 4, valueLines: [4] });
  assert.deepEqual(values(s, 'addresses'), ['10.0.0.1/24', 'fd00::1/64']);
  // A list after an option turns it into a list holding the option's value first.
  assert.deepEqual(s.options.get('dns'), { kind: 'list', values: ['10.0.0.53', '10.0.0.54'], line: 7, valueLines: [7, 8] });
  // An option after a list replaces it, in the list's place.
  assert.deepEqual(s.options.get('ip6prefix'), { kind: 'option', values: ['fd00:2::/48'], line: 10, valueLines: [10] });
  // An empty option sets nothing; an empty list value is an item.
  assert.equal(s.options.has('proto'), false);
  assert.deepEqual(values(s, 'empty'), ['', '']);
  assert.deepEqual([...s.options.keys()], ['mtu', 'addresses', 'dns', 'ip6prefix', 'empty']);
});

test('statements: abbreviations, package lines, ";" separators, reopened sections, blank-only lines', () => {
  const text = [
    'package network',
    "c interface 'lan'; o proto static",
    "  l ports lan1 ;l ports 'lan2';",
    "config interface 'wan'",
    '\toption proto dhcp',
    '   \t  ',
    "config interface 'lan'   # reopened: merges",
    "\toption proto 'static6'",
    "\tlist ports 'lan3'",
    "config 'device' ''",
    "\toption a b; option c d",
  ].join('\r\n');
  const pkg = parseUci(text, FILE, 'network');
  assert.deepEqual(shape(pkg), [
    { type: 'interface', name: 'lan', anonymous: false, options: [['proto', 'option', ['static6']], ['ports', 'list', ['lan1', 'lan2', 'lan3']]] },
    { type: 'interface', name: 'wan', anonymous: false, options: [['proto', 'option', ['dhcp']]] },
    { type: 'device', name: anonymousSectionName(3, 'device'), anonymous: true, options: [['a', 'option', ['b']], ['c', 'option', ['d']]] },
  ]);
  assert.equal(section(pkg, 'lan').line, 2);
});

test('names and types follow uci_validate_str', () => {
  const pkg = parseUci("config 'wifi-iface' 'default_radio0'\n\toption Mixed_09 x\nconfig a.b+c/d=e\n", FILE, 'network');
  assert.deepEqual(pkg.sections.map((s) => s.type), ['wifi-iface', 'a.b+c/d=e']);
  assert.ok(pkg.sections[0]!.options.has('Mixed_09'));
  assert.throws(() => parseUci('', FILE, 'bad name'), /invalid package name/);
  assert.deepEqual(parseUci('', FILE, 'luci-opkg').sections, []);
});

test('every syntax error names file and line', () => {
  const cases: [string, number, RegExp][] = [
    ["config interface 'lan'\n\tfoo proto static\n", 2, /invalid command "foo"/],
    ["config interface 'lan'\n\toptions proto static\n", 2, /invalid command/],
    ["config interface 'lan'\n\toption\n", 2, /insufficient arguments: missing option name/],
    ["\n\nconfig\n", 3, /insufficient arguments: missing section type/],
    ["config ''\n", 1, /insufficient arguments: missing section type/],
    ["config interface 'lan'\n\toption '' x\n", 2, /insufficient arguments: missing option name/],
    ['package\n', 1, /missing package name/],
    ['package net.work\n', 1, /invalid character in package name/],
    ["config interface 'wg-0'\n", 1, /invalid character in section name "wg-0"/],
    ["config 'inter face' x\n", 1, /invalid character in section type/],
    ["config interface x\n\toption listen-port 1\n", 2, /invalid character in option name "listen-port"/],
    ["config interface 'lan'\n\toption ipaddr 10.0.0.1 10.0.0.2\n", 2, /too many arguments/],
    ["config interface 'lan' extra\n", 1, /too many arguments/],
    ["# header\noption proto static\nconfig interface x\n", 2, /option found before the first config section/],
    ["\nlist ports lan1\n", 2, /list found before the first config section/],
    ["config interface 'lan'\n\toption proto 'static\n\toption x y\n", 2, /unterminated ' quote/],
    ['config interface lan\n\n\toption proto "static\\"\n', 3, /unterminated " quote/],
    ["config interface lan\nconfig device lan\n", 2, /section "lan" of type "interface" \(line 1\) cannot be redeclared with type "device"/],
    ["config interface 'lan'\n\toption proto static\nconfig alias' 'a'\n", 3, /unterminated ' quote/],
    ["config interface 'lan'\n\toption a ; option c d\n", 2, /too many arguments/],
    ['\uFEFFconfig interface lan\n', 1, /invalid command/],
  ];
  for (const [text, line, problem] of cases) {
    const err = parseError(text);
    assert.equal(err.line, line, `line of the error in ${JSON.stringify(text)}: ${err.message}`);
    assert.match(err.problem, problem, JSON.stringify(text));
    assert.equal(err.file, FILE);
    assert.equal(err.message, `${FILE}:${line}: ${err.problem}`);
    assert.equal(err.name, 'UciError');
  }
});

test('syntax errors never quote values, so a misplaced key does not leak', () => {
  const key = 'IM2yWa72TEV9K9vo8wceDDG5PmiuuLrXk7krkWE8jEc=';
  const texts = [
    `config interface wg0\n\toption private_key ${key} ${key}\n`,
    `config interface wg0\n\toption ${key} x\n`,
    `config interface ${key}\n`,
    `${key}\n`,
  ];
  for (const text of texts) {
    const err = parseError(text);
    assert.ok(!err.message.includes(key.slice(0, 20)), err.message);
  }
});

test('formatUci writes what uci commit writes', () => {
  const pkg = parseUci(NETWORK, FILE, 'network');
  const subset: UciPackage = { ...pkg, sections: pkg.sections.filter((s) => ['loopback', 'wg0'].includes(s.name) || s.type === 'device') };
  assert.equal(
    formatUci(subset),
    [
      '',
      "config interface 'loopback'",
      "\toption device 'lo'",
      "\toption proto 'static'",
      "\toption ipaddr '127.0.0.1'",
      "\toption netmask '255.0.0.0'",
      '',
      'config device',
      "\toption name 'br-lan'",
      "\toption type 'bridge'",
      "\tlist ports 'lan1'",
      "\tlist ports 'lan2'",
      "\tlist ports 'lan3'",
      '',
      "config interface 'wg0'",
      "\toption proto 'wgts'",
      "\toption private_key 'generate'",
      "\tlist addresses '10.0.0.1/24'",
      '',
      '',
    ].join('\n'),
  );
});

test('round trip: parse, format, parse gives the same package, whatever the values hold', () => {
  const awkward = [
    "it's",
    "'",
    '"double" and \\backslash\\',
    'multi\nline\n',
    '# not a comment; not a separator',
    '  leading and trailing  ',
    'tab\there',
    '\r\n',
    'ünïcödé ✓',
  ];
  const pkg = parseUci(NETWORK, FILE, 'network');
  const wg0 = section(pkg, 'wg0');
  wg0.options.set('description', { kind: 'option', values: [awkward.join('|')], line: 0 });
  wg0.options.set('awkward', { kind: 'list', values: [...awkward, ''], line: 0 });
  pkg.sections.push({ type: 'odd#type', name: 'odd', anonymous: false, line: 0, options: new Map() });

  const text = formatUci(pkg);
  const again = parseUci(text, FILE, 'network');
  assert.deepEqual(shape(again), shape(pkg));
  assert.equal(formatUci(again), text);
  // A second trip from the stock file alone is a fixed point too.
  const stock = formatUci(parseUci(NETWORK, FILE, 'network'));
  assert.equal(formatUci(parseUci(stock, FILE, 'network')), stock);
});

test('formatUci refuses what could not be read back', () => {
  const base = (s: Partial<UciSection>): UciPackage => ({
    name: 'network',
    file: FILE,
    sections: [{ type: 'interface', name: 'lan', anonymous: false, line: 1, options: new Map(), ...s }],
  });
  assert.throws(() => formatUci(base({ name: 'wg-0' })), /section name/);
  assert.throws(() => formatUci(base({ type: 'a b' })), /section type/);
  assert.throws(() => formatUci(base({ options: new Map([['bad-name', { kind: 'option', values: ['x'], line: 1 }]]) })), /option name/);
  assert.throws(() => formatUci(base({ options: new Map([['x', { kind: 'option', values: [''], line: 1 }]]) })), /exactly one non-empty value/);
  assert.throws(() => formatUci(base({ options: new Map([['x', { kind: 'option', values: ['a', 'b'], line: 1 }]]) })), /exactly one/);
  assert.throws(() => formatUci(base({ options: new Map([['x', { kind: 'list', values: ['a\0b'], line: 1 }]]) })), /NUL/);
});
