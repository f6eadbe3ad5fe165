'use strict';
'require dom';
'require form';
'require network';
'require rpc';
'require uci';
'require ui';

/*
 * LuCI protocol handler for interfaces with proto wgts: the tabs of the
 * Network > Interfaces dialog. The option names are those the wgts daemon and
 * its netifd handler read (the kernel wireguard handler names), peers being
 * sections of type wgts_IFACE.
 *
 * Keys are generated and public keys derived by the wgts ubus object on the
 * router; the browser never makes key material up itself. Every input is checked
 * here with a message saying what is expected, and the daemon checks again
 * when it reads the configuration.
 */

// Replies use rpcd's names: genkey {private, public}, genpsk {preshared}, pubkey {public}.
const callGenkey = rpc.declare({
	object: 'wgts',
	method: 'genkey',
	expect: { '': {} },
	reject: true
});

const callGenpsk = rpc.declare({
	object: 'wgts',
	method: 'genpsk',
	expect: { '': {} },
	reject: true
});

const callPubkey = rpc.declare({
	object: 'wgts',
	method: 'pubkey',
	params: [ 'private' ],
	expect: { '': {} },
	reject: true
});

// ---------------------------------------------------------------------------
// Input checks. A validator returns true or the message shown at the field.
// Empty values pass: whether a field may be empty is the option's rmempty.

// 32 bytes in base64 are 43 characters and one '='; the 43rd character carries
// two unused bits, which must be zero (wg rejects anything else).
const KEY_PATTERN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function isKey(value) {
	return KEY_PATTERN.test(value);
}

function parseInteger(value, min, max) {
	if (!/^[0-9]{1,10}$/.test(value))
		return null;
	const n = +value;
	return (n >= min && n <= max) ? n : null;
}

/* Bytes of a dotted-quad IPv4 address, or null. Leading zeros are refused, as inet_pton does. */
function parseIPv4(text) {
	const parts = text.split('.');
	if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && +p <= 255))
		return null;
	return parts.map(Number);
}

/* Bytes of an IPv6 address (with :: and an optional dotted-quad tail), or null. */
function parseIPv6(text) {
	const tail = /^(.*:)([0-9.]+)$/.exec(text);
	if (tail && tail[2].indexOf('.') >= 0) {
		const v4 = parseIPv4(tail[2]);
		if (!v4)
			return null;
		text = tail[1] + ((v4[0] << 8) | v4[1]).toString(16) + ':' + ((v4[2] << 8) | v4[3]).toString(16);
	}
	const halves = text.split('::');
	if (halves.length > 2)
		return null;
	const groups = (part) => (part === '' ? [] : part.split(':'));
	const head = groups(halves[0]), rest = (halves.length === 2) ? groups(halves[1]) : [];
	const all = head.concat(rest);
	if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)))
		return null;
	if (halves.length === 1 ? all.length !== 8 : all.length > 7)
		return null;
	const words = head.concat(new Array(8 - all.length).fill('0'), rest);
	const bytes = [];
	words.forEach((w) => { const n = parseInt(w, 16); bytes.push(n >> 8, n & 255); });
	return bytes;
}

function parseIp(text) {
	return (text.indexOf(':') >= 0) ? parseIPv6(text) : parseIPv4(text);
}

/* { bytes, length } of ADDRESS[/LENGTH]; a bare address is a single host. */
function parseCidr(text) {
	const slash = String(text).indexOf('/');
	const bytes = parseIp(slash < 0 ? text : text.substring(0, slash));
	if (!bytes)
		return null;
	const max = bytes.length * 8;
	if (slash < 0)
		return { bytes: bytes, length: max };
	const length = parseInteger(text.substring(slash + 1), 0, max);
	return (length === null || !/^[0-9]{1,3}$/.test(text.substring(slash + 1))) ? null : { bytes: bytes, length: length };
}

function formatIp(bytes) {
	if (bytes.length === 4)
		return bytes.join('.');
	const words = [];
	for (let i = 0; i < 16; i += 2)
		words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
	// RFC 5952: the longest run of two or more zero groups becomes '::'.
	let best = -1, bestLength = 1;
	for (let i = 0; i < 8; i++) {
		let j = i;
		while (j < 8 && words[j] === '0') j++;
		if (j - i > bestLength) { best = i; bestLength = j - i; }
	}
	if (best < 0)
		return words.join(':');
	return words.slice(0, best).join(':') + '::' + words.slice(best + bestLength).join(':');
}

/* The network a CIDR lies in: host bits cleared. */
function networkOf(cidr) {
	const bytes = cidr.bytes.map((b, i) => {
		const bits = Math.min(8, Math.max(0, cidr.length - 8 * i));
		return b & ((0xff << (8 - bits)) & 0xff);
	});
	return { bytes: bytes, length: cidr.length };
}

function sameNetwork(a, b) {
	return a.length === b.length && a.bytes.every((x, i) => x === b.bytes[i]);
}

function formatCidr(cidr) {
	return formatIp(cidr.bytes) + '/' + cidr.length;
}

function isHostName(text) {
	const name = text.replace(/\.$/, '');
	if (name.length === 0 || name.length > 253)
		return false;
	const labels = name.split('.');
	// An all-numeric last label is a mistyped IPv4 address, not a name.
	return labels.every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l)) &&
		!/^[0-9]+$/.test(labels[labels.length - 1]);
}

/* Each validator checks one value; a DynamicList's validator sees one item at a time. */
function validator(check, message) {
	return function(section_id, value) {
		const values = Array.isArray(value) ? value : [ value ];
		return values.every((v) => v == null || v === '' || check(String(v).trim())) ? true : message;
	};
}

const KEY_MESSAGE = _('Expecting a WireGuard key: 44 characters of base64 ending in "=", as "wg genkey" prints them');

const validatePrivateKey = validator((v) => v === 'generate' || isKey(v),
	_('Expecting a WireGuard private key (44 characters of base64 ending in "=", as "wg genkey" prints them), or "generate"'));
const validateKey = validator(isKey, KEY_MESSAGE);
const validateAddress = validator((v) => parseCidr(v) !== null,
	_('Expecting an IPv4 or IPv6 address with an optional prefix length, like 10.99.0.1/24 or fd99::1/64'));
const validateAllowedIp = validator((v) => parseCidr(v) !== null,
	_('Expecting an IPv4 or IPv6 address or network, like 10.99.0.2/32 or 192.168.20.0/24'));
const validateListenPort = validator((v) => parseInteger(v, 0, 65535) !== null,
	_('Expecting a port number from 0 to 65535 (empty or 0: a random port)'));
const validateEndpointPort = validator((v) => parseInteger(v, 1, 65535) !== null,
	_('Expecting a port number from 1 to 65535'));
const validateMtu = validator((v) => parseInteger(v, 576, 65535) !== null,
	_('Expecting an MTU from 576 to 65535 bytes'));
const validateKeepalive = validator((v) => v === 'off' || parseInteger(v, 0, 65535) !== null,
	_('Expecting a number of seconds from 0 (off) to 65535'));
const validateHost = validator((v) => {
	const bracketed = /^\[(.*)\]$/.exec(v);
	return bracketed ? parseIPv6(bracketed[1]) !== null : (parseIp(v) !== null || isHostName(v));
}, _('Expecting a host name or an IPv4 or IPv6 address'));
const validateFwmark = validator((v) => v === 'off' ||
	(/^0x[0-9a-fA-F]{1,8}$/.test(v)) || (/^[0-9]{1,10}$/.test(v) && +v <= 0xffffffff),
	_('Expecting off, or a number up to 0xffffffff (decimal, or hexadecimal starting with 0x)'));

// ---------------------------------------------------------------------------
// The configuration for the other site of a peer, in wg-quick form.

function listOf(value) {
	return L.toArray(value).map((v) => String(v).trim()).filter((v) => v !== '');
}

function hostForEndpoint(host) {
	return (host.indexOf(':') >= 0 && host.charAt(0) !== '[') ? '[' + host + ']' : host;
}

/*
 * What the other site needs: its own side of the tunnel. `site` describes it:
 * privateKey (when a key pair was made for it here), its public key, addresses,
 * listenPort; `here` is this interface: publicKey, presharedKey, allowedIps (what
 * the other site sends into the tunnel), endpoint host and port, keepalive.
 */
function otherSiteConfig(title, site, here) {
	const lines = [ '# ' + title, '[Interface]' ];
	if (site.privateKey)
		lines.push('PrivateKey = ' + site.privateKey);
	else
		lines.push('# PrivateKey = (the private key of the other site, whose public key is ' + (site.publicKey || '?') + ')');
	if (site.addresses.length)
		lines.push('Address = ' + site.addresses.join(', '));
	if (site.listenPort)
		lines.push('ListenPort = ' + site.listenPort);
	lines.push('', '[Peer]', 'PublicKey = ' + (here.publicKey || '(this interface has no valid private key yet)'));
	if (here.presharedKey)
		lines.push('PresharedKey = ' + here.presharedKey);
	lines.push('AllowedIPs = ' + (here.allowedIps.length ? here.allowedIps.join(', ') : '0.0.0.0/0, ::/0'));
	if (here.host && here.port)
		lines.push('Endpoint = ' + hostForEndpoint(here.host) + ':' + here.port);
	else if (here.host)
		lines.push('# Endpoint: this interface has no fixed listen port, so the other site cannot reach it');
	if (here.keepalive && here.keepalive !== '0' && here.keepalive !== 'off')
		lines.push('PersistentKeepalive = ' + here.keepalive);
	return lines.join('\n') + '\n';
}

/*
 * Defaults for the other site. Its tunnel addresses are this peer's allowed IPs
 * that lie in one of this interface's subnets, with that subnet's length
 * (10.99.0.2/32 inside 10.99.0.1/24 becomes 10.99.0.2/24); what it sends here
 * are this interface's subnets and the LAN.
 */
function defaultSiteAddresses(ifaceAddresses, peerAllowedIps) {
	const subnets = ifaceAddresses.map(parseCidr).filter((c) => c !== null);
	const result = [];
	peerAllowedIps.map(parseCidr).filter((c) => c !== null).forEach((ip) => {
		const subnet = subnets.filter((n) => n.bytes.length === ip.bytes.length &&
			n.length <= ip.length && sameNetwork(networkOf({ bytes: ip.bytes, length: n.length }), networkOf(n)))[0];
		if (subnet && ip.length === ip.bytes.length * 8)
			result.push(formatIp(ip.bytes) + '/' + subnet.length);
	});
	return result;
}

function defaultAllowedIps(ifaceAddresses) {
	const result = [];
	const add = (cidr) => {
		if (cidr && result.indexOf(formatCidr(networkOf(cidr))) < 0)
			result.push(formatCidr(networkOf(cidr)));
	};
	ifaceAddresses.forEach((a) => add(parseCidr(a)));
	// The LAN behind this router, when it has a static IPv4 address.
	const lanAddress = uci.get('network', 'lan', 'ipaddr'), lanMask = uci.get('network', 'lan', 'netmask');
	listOf(lanAddress).forEach((a) => {
		const cidr = parseCidr(a), mask = lanMask ? parseIPv4(lanMask) : null;
		if (cidr && a.indexOf('/') < 0 && mask)
			cidr.length = mask.reduce((n, b) => n + (b.toString(2).match(/1/g) || []).length, 0);
		add(cidr);
	});
	return result;
}

/* Draws text as a QR code with the library LuCI ships (luci-lib-uqr), when it is installed. */
function renderQrCode(container, text) {
	return L.require('uqr').then((uqr) => {
		// A quiet zone of a few modules lets phone cameras find the code.
		container.innerHTML = uqr.renderSVG(text, { pixelSize: 4, ecc: 'L', border: 3 });
	}, () => {
		dom.content(container, E('em', {}, _('Install luci-lib-uqr to see this configuration as a QR code.')));
	});
}

/*
 * The export panel: three inputs the router cannot know for sure (how the other
 * site reaches it, which addresses the other site uses, what it sends into the
 * tunnel), the wg-quick text and its QR code, redrawn on every change.
 */
function renderExport(iface, option, section_id, panel, peerValue, ifaceValue, publicKey) {
	const ifaceAddresses = listOf(ifaceValue('addresses'));
	const state = { privateKey: null };
	const input = (cls, value, placeholder) => E('input', {
		'class': 'cbi-input-text ' + cls, 'type': 'text', 'value': value, 'placeholder': placeholder, 'style': 'width:100%'
	});
	const hostInput = input('wgts-export-host', '', 'vpn.example.org');
	const addressInput = input('wgts-export-addresses',
		defaultSiteAddresses(ifaceAddresses, listOf(peerValue('allowed_ips'))).join(', '), '10.99.0.2/24');
	const allowedInput = input('wgts-export-allowed', defaultAllowedIps(ifaceAddresses).join(', '), '10.99.0.0/24');
	const text = E('pre', { 'class': 'wgts-export-text', 'style': 'white-space:pre;overflow:auto' });
	const qr = E('div', { 'class': 'wgts-export-qr' });
	const download = E('a', { 'class': 'btn cbi-button wgts-export-download' }, [ _('Download') ]);
	const problem = E('div', { 'class': 'wgts-export-problem', 'style': 'color:#c00' });

	const redraw = () => {
		const host = hostInput.value.trim(), addresses = listOf(addressInput.value.replace(/,/g, ' ')),
		      allowed = listOf(allowedInput.value.replace(/,/g, ' '));
		const bad = [];
		if (host && validateHost(section_id, host) !== true)
			bad.push(_('The address of this router is not a host name or IP address.'));
		if (addresses.some((a) => parseCidr(a) === null))
			bad.push(_('An address of the other site is not an IP address with an optional prefix length.'));
		if (allowed.some((a) => parseCidr(a) === null))
			bad.push(_('An allowed IP of the other site is not an IP address or network.'));
		dom.content(problem, bad.map((m) => E('p', {}, m)));
		const name = peerValue('description') || _('peer');
		const config = otherSiteConfig(_('The other site of interface') + ' ' + iface + ', ' + _('peer') + ' "' + name + '"', {
			privateKey: state.privateKey,
			publicKey: peerValue('public_key'),
			addresses: addresses,
			listenPort: peerValue('endpoint_host') ? (peerValue('endpoint_port') || '51820') : null
		}, {
			publicKey: publicKey.value,
			presharedKey: peerValue('preshared_key'),
			allowedIps: allowed,
			host: host,
			port: ifaceValue('listen_port'),
			keepalive: peerValue('persistent_keepalive')
		});
		dom.content(text, config);
		download.setAttribute('href', 'data:text/plain;charset=utf-8,' + encodeURIComponent(config));
		download.setAttribute('download', (name.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'peer') + '.conf');
		return renderQrCode(qr, config);
	};

	const makeKeyPair = () => {
		if (peerValue('public_key') &&
		    !confirm(_('Replace this peer\'s public key with a new key pair made for the other site?')))
			return;
		return callGenkey().then((reply) => {
			return reply.public ? reply : callPubkey(reply.private).then((pub) =>
				({ private: reply.private, public: pub.public }));
		}).then((pair) => {
			const widget = option.section.getUIElement(section_id, 'public_key');
			widget.setValue(pair.public);
			widget.triggerValidation();
			state.privateKey = pair.private;
			return redraw();
		}, (err) => ui.addNotification(null, E('p', {}, [ _('Cannot generate a key: ') + (err.message || err) ]), 'danger'));
	};

	[ hostInput, addressInput, allowedInput ].forEach((el) => el.addEventListener('input', redraw));

	dom.content(panel, [
		E('div', { 'class': 'cbi-value' }, [
			E('label', { 'class': 'cbi-value-title' }, _('This router, as the other site reaches it')), hostInput ]),
		E('div', { 'class': 'cbi-value' }, [
			E('label', { 'class': 'cbi-value-title' }, _('Addresses of the other site')), addressInput ]),
		E('div', { 'class': 'cbi-value' }, [
			E('label', { 'class': 'cbi-value-title' }, _('Sent here by the other site (AllowedIPs)')), allowedInput ]),
		problem,
		E('p', {}, [
			E('button', { 'class': 'btn cbi-button wgts-export-keypair', 'click': ui.createHandlerFn(null, makeKeyPair) },
				[ _('Make a key pair for the other site') ]),
			' ', download
		]),
		E('p', { 'class': 'cbi-value-description' }, _('A key pair made here goes into this file only; the router keeps just the public key. Save the peer to keep it.')),
		E('div', { 'style': 'display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start' }, [ qr, text ])
	]);
	return redraw();
}

// ---------------------------------------------------------------------------

return network.registerProtocol('wgts', {
	getI18n: function() {
		return _('WireGuard (wgts)');
	},

	// The daemon names the TUN device after the interface section.
	getIfname: function() {
		return this._ubus('l3_device') || this.sid;
	},

	getOpkgPackage: function() {
		return 'wgts';
	},

	isFloating: function() {
		return true;
	},

	isVirtual: function() {
		return true;
	},

	getDevices: function() {
		return null;
	},

	containsDevice: function(ifname) {
		return (network.getIfnameOf(ifname) == this.getIfname());
	},

	renderFormOptions: function(s) {
		const iface = s.section;
		const peerType = 'wgts_' + iface;
		let o;

		// The interface's public key, derived by the router whenever the private key changes.
		const publicKey = { value: null, node: E('code', { 'class': 'wgts-public-key' }, [ '…' ]) };
		const showPublicKey = (privateKey) => {
			publicKey.value = null;
			if (privateKey === 'generate')
				return dom.content(publicKey.node, _('(made when the interface first comes up)'));
			if (!privateKey || !isKey(privateKey))
				return dom.content(publicKey.node, _('(no valid private key)'));
			dom.content(publicKey.node, '…');
			return callPubkey(privateKey).then((reply) => {
				publicKey.value = reply.public || null;
				dom.content(publicKey.node, publicKey.value || _('(the router could not derive it)'));
			}, (err) => {
				dom.content(publicKey.node, _('(the router could not derive it)'));
				ui.addNotification(null, E('p', {}, [ _('Cannot derive the public key: ') + (err.message || err) ]), 'danger');
			});
		};
		// An interface value as the form holds it, or as saved.
		const ifaceValue = (option) => {
			const value = s.formvalue(iface, option);
			return (value != null) ? value : uci.get('network', iface, option);
		};

		// -- General ---------------------------------------------------------

		o = s.taboption('general', form.Value, 'private_key', _('Private key'),
			_('Base64-encoded private key of this interface. "generate" makes one when the interface first comes up.'));
		o.password = true;
		o.rmempty = false;
		o.validate = validatePrivateKey;
		o.onchange = (ev, section_id, value) => showPublicKey(value);

		o = s.taboption('general', form.DummyValue, '_generate_key', ' ');
		o.cfgvalue = function(section_id) {
			return E('button', {
				'class': 'btn cbi-button cbi-button-apply',
				'click': ui.createHandlerFn(this, () => {
					const widget = this.section.getUIElement(section_id, 'private_key');
					if (isKey(widget.getValue()) &&
					    !confirm(_('Replace the private key? Every other site must then be given the new public key.')))
						return;
					return callGenkey().then((reply) => {
						widget.setValue(reply.private);
						widget.triggerValidation();
						return showPublicKey(reply.private);
					}, (err) => ui.addNotification(null, E('p', {}, [ _('Cannot generate a key: ') + (err.message || err) ]), 'danger'));
				})
			}, [ _('Generate new key') ]);
		};
		o.write = o.remove = function() {};

		o = s.taboption('general', form.DummyValue, '_public_key', _('Public key'),
			_('Give this key to the other sites: it names this interface in their peer settings.'));
		o.cfgvalue = () => publicKey.node;
		o.write = o.remove = function() {};
		showPublicKey(uci.get('network', iface, 'private_key'));

		o = s.taboption('general', form.Value, 'listen_port', _('Listen port'),
			_('UDP port for incoming and outgoing packets. Other sites that connect here need a fixed one.'));
		o.placeholder = _('random');
		o.optional = true;
		o.validate = validateListenPort;

		o = s.taboption('general', form.DynamicList, 'addresses', _('IP addresses'),
			_('Addresses of this interface inside the tunnel, with their prefix length.'));
		o.optional = true;
		o.validate = validateAddress;

		o = s.taboption('general', form.Value, 'mtu', _('MTU'),
			_('Largest packet inside the tunnel. The default, 1420, fits any underlay of 1500 bytes.'));
		o.placeholder = '1420';
		o.optional = true;
		o.validate = validateMtu;

		// -- Advanced --------------------------------------------------------

		o = s.taboption('advanced', form.Value, 'fwmark', _('Firewall mark'),
			_('32-bit mark for the encrypted packets this interface sends, for policy routing.'));
		o.optional = true;
		o.validate = validateFwmark;

		o = s.taboption('advanced', form.Flag, 'nohostroute', _('No host routes'),
			_('Do not add routes to the peers\' endpoints through the current default route.'));
		o.optional = true;

		// -- Peers -----------------------------------------------------------

		try {
			s.tab('peers', _('Peers'), _('One peer for each other site or device this interface talks to.'));
		}
		catch (e) { /* the dialog may already have the tab */ }

		o = s.taboption('peers', form.SectionValue, '_peers', form.GridSection, peerType);
		const ss = o.subsection;
		ss.anonymous = true;
		ss.addremove = true;
		ss.addbtntitle = _('Add peer');
		ss.modaltitle = _('Edit peer');
		ss.renderSectionPlaceholder = () => E('em', {}, _('No peers yet: add one for each other site.'));

		o = ss.option(form.Flag, 'disabled', _('Peer disabled'),
			_('A disabled peer stays in the configuration but the interface does not use it.'));
		o.modalonly = true;
		o.optional = true;

		o = ss.option(form.Value, 'description', _('Description'), _('Shown in the status page; optional.'));
		o.placeholder = _('Office B');
		o.optional = true;
		o.textvalue = function(section_id) {
			const name = uci.get('network', section_id, 'description');
			const key = uci.get('network', section_id, 'public_key');
			const badges = [];
			if (uci.get('network', section_id, 'disabled') == '1')
				badges.push(E('span', { 'class': 'ifacebadge' }, [ E('em', {}, _('disabled')) ]), ' ');
			badges.push(key && isKey(key)
				? E('span', { 'class': 'ifacebadge', 'title': key }, [ E('code', {}, key.substring(0, 6) + '…' + key.substring(37)) ])
				: E('span', { 'class': 'ifacebadge' }, [ E('em', {}, _('public key missing')) ]));
			if (uci.get('network', section_id, 'preshared_key'))
				badges.push(' ', E('span', { 'class': 'ifacebadge', 'title': _('Preshared key in use') }, 'PSK'));
			return E('div', {}, [ E('p', {}, name ? name : E('em', {}, _('Unnamed peer'))) ].concat(badges));
		};

		o = ss.option(form.Value, 'public_key', _('Public key'), _('The other site\'s public key (required).'));
		o.modalonly = true;
		o.rmempty = false;
		o.validate = validateKey;

		o = ss.option(form.Value, 'preshared_key', _('Preshared key'),
			_('Optional second secret, the same on both sites: a layer of symmetric cryptography on top.'));
		o.modalonly = true;
		o.password = true;
		o.optional = true;
		o.validate = validateKey;

		o = ss.option(form.DummyValue, '_generate_psk', ' ');
		o.modalonly = true;
		o.cfgvalue = function(section_id) {
			return E('button', {
				'class': 'btn cbi-button',
				'click': ui.createHandlerFn(this, () => callGenpsk().then((reply) => {
					const widget = this.section.getUIElement(section_id, 'preshared_key');
					widget.setValue(reply.preshared);
					widget.triggerValidation();
				}, (err) => ui.addNotification(null, E('p', {}, [ _('Cannot generate a key: ') + (err.message || err) ]), 'danger')))
			}, [ _('Generate preshared key') ]);
		};
		o.write = o.remove = function() {};

		o = ss.option(form.DynamicList, 'allowed_ips', _('Allowed IPs'),
			_('Addresses and networks this peer may send from, and that are sent to it: its tunnel address and the networks behind it.'));
		o.optional = true;
		o.validate = validateAllowedIp;
		o.textvalue = function(section_id) {
			const ips = listOf(uci.get('network', section_id, 'allowed_ips'));
			return ips.length
				? E('span', {}, ips.map((ip) => E('span', { 'class': 'ifacebadge' }, ip)))
				: E('em', {}, _('none'));
		};

		o = ss.option(form.Flag, 'route_allowed_ips', _('Route allowed IPs'),
			_('Add routes for the allowed IPs through this interface.'));
		o.modalonly = true;
		o.optional = true;

		o = ss.option(form.Value, 'endpoint_host', _('Endpoint host'),
			_('Where to reach the other site: a host name or an address. Leave empty when the other site connects here.'));
		o.placeholder = 'office-b.example.net';
		o.optional = true;
		o.validate = validateHost;
		o.textvalue = function(section_id) {
			const host = uci.get('network', section_id, 'endpoint_host');
			if (!host)
				return E('em', {}, _('waits for the other site'));
			return hostForEndpoint(host) + ':' + (uci.get('network', section_id, 'endpoint_port') || '51820');
		};

		o = ss.option(form.Value, 'endpoint_port', _('Endpoint port'), _('UDP port of the other site.'));
		o.modalonly = true;
		o.placeholder = '51820';
		o.optional = true;
		o.validate = validateEndpointPort;

		o = ss.option(form.Value, 'persistent_keepalive', _('Persistent keepalive'),
			_('Seconds between keepalive packets; 25 keeps a NAT mapping open. Empty or 0: off.'));
		o.modalonly = true;
		o.placeholder = '0';
		o.optional = true;
		o.validate = validateKeepalive;

		o = ss.option(form.DummyValue, '_export', _('Configuration for the other site'),
			_('The other site\'s side of this tunnel, as a wg-quick file and a QR code for the WireGuard apps.'));
		o.modalonly = true;
		o.write = o.remove = function() {};
		o.cfgvalue = function(section_id) {
			const option = this;
			const panel = E('div', { 'class': 'wgts-export' });
			const peerValue = (name) => {
				const value = option.section.formvalue(section_id, name);
				return (value != null) ? value : uci.get('network', section_id, name);
			};
			const show = () => renderExport(iface, option, section_id, panel, peerValue, ifaceValue, publicKey);
			return E('div', {}, [
				E('button', {
					'class': 'btn cbi-button cbi-button-action wgts-export-show',
					'click': ui.createHandlerFn(this, show)
				}, [ _('Show configuration for the other site') ]),
				panel
			]);
		};
	},

	deleteConfiguration: function() {
		uci.sections('network', 'wgts_' + this.sid, (peer) => uci.remove('network', peer['.name']));
	}
});
