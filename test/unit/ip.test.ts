import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIp, ipv4MappedToIpv4, parseCidr, parseIp } from '../../src/device/ip';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('parseIp accepts IPv4 dotted quads', () => {
  assert.deepEqual(parseIp('0.0.0.0'), { family: 4, bytes: new Uint8Array([0, 0, 0, 0]) });
  assert.deepEqual(parseIp('192.168.1.254'), { family: 4, bytes: new Uint8Array([192, 168, 1, 254]) });
  assert.deepEqual(parseIp('255.255.255.255')?.bytes, new Uint8Array([255, 255, 255, 255]));
});

test('parseIp rejects malformed IPv4', () => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.999', '010.0.0.1', '1.2.3.00', '1..2.3',
    '1.2.3.4 ', ' 1.2.3.4', '1.2.3.-4', '1.2.3.+4', '0x1.2.3.4', '1.2.3.4/24', 'a.b.c.d', '1.2.3.4.']) {
    assert.equal(parseIp(bad), undefined, JSON.stringify(bad));
  }
});

test('parseIp accepts IPv6 forms', () => {
  const cases: Array<[string, string]> = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:DB8::FF00:42:8329', '20010db8000000000000ff0000428329'],
    ['2001:0db8:0000:0000:0000:ff00:0042:8329', '20010db8000000000000ff0000428329'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1::8', '00010000000000000000000000000008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
  ];
  for (const [text, expected] of cases) {
    const ip = parseIp(text);
    assert.equal(ip?.family, 6, text);
    assert.equal(hex(ip.bytes), expected, text);
  }
});

test('parseIp rejects malformed IPv6', () => {
  for (const bad of [':', ':::', '1:::2', '1::2::3', ':1::2', '1::2:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '12345::', 'g::1', '[::1]', 'fe80::1%eth0', '::1.2.3', '::1.2.3.4:5',
    '1.2.3.4::', '::256.1.1.1', '::ffff:01.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::1 ', '1:2:3:4:5:6:7:8/64']) {
    assert.equal(parseIp(bad), undefined, JSON.stringify(bad));
  }
});

test('formatIp follows RFC 5952', () => {
  const cases: Array<[string, string]> = [
    ['2001:0DB8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longer run wins
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:ffff:c000:0280', '::ffff:192.0.2.128'],
    ['::102:304', '::102:304'], // deprecated IPv4-compatible form stays hex
    ['fe80::ABCD', 'fe80::abcd'],
  ];
  for (const [input, expected] of cases) assert.equal(formatIp(parseIp(input)!.bytes), expected, input);
  assert.equal(formatIp(new Uint8Array([10, 0, 0, 1])), '10.0.0.1');
  assert.throws(() => formatIp(new Uint8Array(5)));
});

test('formatIp agrees with the WHATWG URL serializer and round-trips through parseIp', () => {
  let seed = 12345;
  const nextByte = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(16);
    // Many zero groups, so compression choices get exercised.
    for (let g = 0; g < 8; g++) {
      if (nextByte() < 128) continue;
      bytes[2 * g] = nextByte() < 128 ? 0 : nextByte();
      bytes[2 * g + 1] = nextByte();
    }
    const text = formatIp(bytes);
    assert.deepEqual(parseIp(text)?.bytes, bytes, text);
    if (text.startsWith('::ffff:') && text.includes('.')) continue; // URL writes mapped addresses in hex
    assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
  }
});

test('ipv4MappedToIpv4', () => {
  assert.deepEqual(ipv4MappedToIpv4(parseIp('::ffff:10.1.2.3')!), { family: 4, bytes: new Uint8Array([10, 1, 2, 3]) });
  assert.equal(ipv4MappedToIpv4(parseIp('::10.1.2.3')!), undefined);
  assert.equal(ipv4MappedToIpv4(parseIp('10.1.2.3')!), undefined);
});

test('parseCidr parses, defaults to a host route and zeroes host bits', () => {
  assert.deepEqual(parseCidr('10.0.0.1/24'), { family: 4, bytes: new Uint8Array([10, 0, 0, 0]), prefixLength: 24 });
  assert.deepEqual(parseCidr('10.0.0.1'), { family: 4, bytes: new Uint8Array([10, 0, 0, 1]), prefixLength: 32 });
  assert.equal(formatCidr(parseCidr('192.168.255.255/17')), '192.168.128.0/17');
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
  assert.equal(formatCidr(parseCidr('8.8.8.8/0')), '0.0.0.0/0');
  assert.equal(formatCidr(parseCidr('1.2.3.4/32')), '1.2.3.4/32');
  assert.equal(formatCidr(parseCidr('::/0')), '::/0');
  assert.equal(formatCidr(parseCidr('2001:db8::1')), '2001:db8::1/128');
  assert.equal(formatCidr(parseCidr('2001:db8:ffff:ffff::1/33')), '2001:db8:8000::/33');
  assert.equal(formatCidr(parseCidr('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127')), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127');
  assert.equal(formatCidr(parseCidr('fd00::1:2/64')), 'fd00::/64');
  assert.equal(formatCidr(parseCidr('  10.1.0.0/16 ')), '10.1.0.0/16');
  assert.equal(parseCidr('::ffff:1.2.3.4/96').family, 6);
});

test('parseCidr throws clear errors', () => {
  assert.throws(() => parseCidr('10.0.0.0/33'), { message: 'invalid CIDR "10.0.0.0/33": prefix length must be 0-32' });
  assert.throws(() => parseCidr('::/129'), { message: 'invalid CIDR "::/129": prefix length must be 0-128' });
  for (const bad of ['10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/8/8', '10.0.0.0/ 8', '10.0.0.0/1e1',
    '10.0.0.0/0x8', '10.0.0.0/1000', '/8', '', 'example.com/8', '10.0.0.256/8', '[::1]/128']) {
    assert.throws(() => parseCidr(bad), /^Error: invalid CIDR/, JSON.stringify(bad));
  }
});
