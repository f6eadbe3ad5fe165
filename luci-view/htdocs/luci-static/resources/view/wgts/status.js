'use strict';
'require dom';
'require poll';
'require rpc';
'require view';

/*
 * Status > WireGuard (wgts): every interface the wgts daemon runs and its peers,
 * read from the daemon over ubus (wgts status, shaped like rpcd-mod-wireguard
 * wireguard status) and refreshed in place by LuCI poll loop. Transfer rates
 * are the byte counters difference between two polls.
 */

const callStatus = rpc.declare({
	object: 'wgts',
	method: 'status',
	expect: { '': {} },
	reject: true
});

// A session is rejected three minutes after its handshake (REJECT_AFTER_TIME);
// the daemon says the same in wgts_state, this is for replies without it.
const REJECT_AFTER_TIME = 180;

const STATES = {
	up: { text: _('up'), color: '#2e7d32', title: _('Handshake within the last three minutes: the tunnel carries traffic') },
	stale: { text: _('stale'), color: '#e65100', title: _('No handshake for more than three minutes: the other site may be unreachable') },
	never: { text: _('never'), color: '#616161', title: _('No handshake with this peer since the interface came up') }
};

function formatBytes(n) {
	const units = [ 'B', 'KiB', 'MiB', 'GiB', 'TiB' ];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
	return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
}

function formatAge(seconds) {
	seconds = Math.max(0, Math.floor(seconds));
	if (seconds < 60)
		return seconds + ' ' + _('s ago');
	if (seconds < 3600)
		return Math.floor(seconds / 60) + ' ' + _('min') + ' ' + (seconds % 60) + ' ' + _('s ago');
	if (seconds < 86400)
		return Math.floor(seconds / 3600) + ' ' + _('h') + ' ' + Math.floor(seconds % 3600 / 60) + ' ' + _('min ago');
	return Math.floor(seconds / 86400) + ' ' + _('days ago');
}

/*
 * ubus replies reach LuCI as libubox formats them, which prints 16- and 32-bit
 * integers signed: a listen port above 32767 arrives negative.
 */
function unsigned(n, bits) {
	n = +n || 0;
	return (n < 0) ? n + Math.pow(2, bits) : n;
}

function peerState(peer, now) {
	if (STATES[peer.wgts_state])
		return peer.wgts_state;
	if (!(+peer.last_handshake > 0))
		return 'never';
	return (now - peer.last_handshake < REJECT_AFTER_TIME) ? 'up' : 'stale';
}

function badge(state) {
	const s = STATES[state];
	return E('span', {
		'class': 'wgts-badge wgts-badge-' + state,
		'title': s.title,
		'style': 'display:inline-block;padding:.1em .6em;border-radius:.8em;font-weight:bold;color:#fff;background:' + s.color
	}, s.text);
}

return view.extend({
	// Seconds between refreshes.
	pollInterval: 2,

	load: function() {
		return callStatus().then((status) => ({ status: status }), (error) => ({ error: error }));
	},

	render: function(data) {
		// The last counters seen per interface/peer, for the rates.
		this.samples = {};
		const content = E('div', { 'class': 'wgts-status' }, this.renderStatus(data));
		poll.add(() => this.load().then((next) => dom.content(content, this.renderStatus(next))), this.pollInterval);

		return E('div', {}, [
			E('h2', {}, _('WireGuard (wgts)')),
			E('div', { 'class': 'cbi-map-descr' },
				_('Tunnels of the wgts daemon and their peers. A peer is up while its last handshake is less than three minutes old.')),
			content
		]);
	},

	renderStatus: function(data) {
		if (data.error)
			return [ E('div', { 'class': 'alert-message warning wgts-error' }, [
				_('Cannot read the status of the wgts daemon: ') + (data.error.message || data.error),
				E('br'), _('Is the wgts service running? (/etc/init.d/wgts status)') ]) ];

		const names = Object.keys(data.status || {}).sort();
		if (!names.length)
			return [ E('p', { 'class': 'wgts-empty' }, E('em', {}, _('No wgts interface is running.'))) ];

		const now = Date.now() / 1000;
		const nodes = names.map((name) => this.renderInterface(name, data.status[name], now));
		nodes.push(E('p', { 'class': 'wgts-updated', 'style': 'opacity:.7' },
			_('Updated') + ' ' + new Date().toLocaleTimeString()));
		return nodes;
	},

	renderInterface: function(name, iface, now) {
		const facts = [];
		if (iface.public_key)
			facts.push(_('Public key') + ': ', E('code', {}, iface.public_key));
		facts.push(' · ' + _('Listen port') + ': ' + (iface.listen_port ? unsigned(iface.listen_port, 16) : _('random')));
		if (iface.fwmark)
			facts.push(' · ' + _('Firewall mark') + ': 0x' + unsigned(iface.fwmark, 32).toString(16));
		if (iface.wgts_mtu)
			facts.push(' · MTU ' + iface.wgts_mtu);
		const drops = Object.keys(iface.wgts_drops || {}).filter((reason) => iface.wgts_drops[reason] > 0);
		if (drops.length)
			facts.push(' · ' + _('Dropped') + ': ' + drops.map((r) => r + ' ' + iface.wgts_drops[r]).join(', '));

		const peers = Object.keys(iface.peers || {}).map((key) => Object.assign({ public_key: key }, iface.peers[key]));
		peers.sort((a, b) => (a.wgts_description || '\uffff' + a.public_key).localeCompare(b.wgts_description || '\uffff' + b.public_key));

		const head = [ _('Peer'), _('State'), _('Latest handshake'), _('Endpoint'), _('Allowed IPs'),
			_('Received'), _('Sent'), _('Rate (in / out)') ];
		const rows = peers.map((peer) => this.renderPeer(name, peer, now));
		if (!rows.length)
			rows.push(E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': head.length },
				E('em', {}, _('This interface has no peers.')))));

		return E('div', { 'class': 'cbi-section wgts-interface', 'data-interface': name }, [
			E('h3', {}, _('Interface') + ' ' + name),
			E('p', { 'style': 'word-break:break-all' }, facts),
			E('table', { 'class': 'table' }, [
				E('tr', { 'class': 'tr table-titles' }, head.map((h) => E('th', { 'class': 'th' }, h)))
			].concat(rows))
		]);
	},

	renderPeer: function(iface, peer, now) {
		const key = peer.public_key, handshake = +peer.last_handshake || 0;
		const rx = +peer.rx_bytes || 0, tx = +peer.tx_bytes || 0;
		const rate = this.rate(iface + '/' + key, rx, tx);
		const cell = (cls, title, content) => E('td', { 'class': 'td ' + cls, 'data-title': title }, content);

		return E('tr', { 'class': 'tr wgts-peer', 'data-peer': key }, [
			cell('wgts-name', _('Peer'), [
				peer.wgts_description ? E('strong', {}, peer.wgts_description) : E('em', {}, _('Unnamed peer')),
				E('br'),
				E('code', { 'title': key, 'style': 'font-size:85%' }, key.substring(0, 8) + '…' + key.substring(36)),
				peer.wgts_has_preshared_key ? E('span', { 'class': 'ifacebadge', 'style': 'margin-left:.5em' }, 'PSK') : ''
			]),
			cell('wgts-state', _('State'), badge(peerState(peer, now))),
			cell('wgts-handshake', _('Latest handshake'), handshake > 0
				? E('span', { 'title': new Date(handshake * 1000).toString() }, formatAge(now - handshake))
				: E('em', {}, _('never'))),
			cell('wgts-endpoint', _('Endpoint'), peer.endpoint ? E('code', {}, peer.endpoint) : E('em', {}, _('unknown'))),
			cell('wgts-allowed-ips', _('Allowed IPs'), (peer.allowed_ips || []).join(', ') || E('em', {}, _('none'))),
			cell('wgts-rx', _('Received'), E('span', { 'data-bytes': rx }, formatBytes(rx))),
			cell('wgts-tx', _('Sent'), E('span', { 'data-bytes': tx }, formatBytes(tx))),
			cell('wgts-rate', _('Rate (in / out)'), rate
				? E('span', { 'data-rx-rate': rate.rx, 'data-tx-rate': rate.tx },
					'↓ ' + formatBytes(rate.rx) + '/s · ↑ ' + formatBytes(rate.tx) + '/s')
				: E('em', {}, '…'))
		]);
	},

	/*
	 * Bytes per second since the previous sample; null on the first one or when
	 * the counters restarted. Polls closer than a second apart keep the older
	 * sample, as a rate over a few milliseconds says little.
	 */
	rate: function(id, rx, tx) {
		const at = Date.now(), previous = this.samples[id];
		if (previous && at - previous.at < 1000 && rx >= previous.rx && tx >= previous.tx)
			return previous.rate;
		const sample = this.samples[id] = { rx: rx, tx: tx, at: at, rate: null };
		if (previous && rx >= previous.rx && tx >= previous.tx) {
			const seconds = (at - previous.at) / 1000;
			sample.rate = { rx: (rx - previous.rx) / seconds, tx: (tx - previous.tx) / seconds };
		}
		return sample.rate;
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
