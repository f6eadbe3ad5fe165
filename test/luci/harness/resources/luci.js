/*
 * Test harness: a stand-in for LuCI's runtime, luci.js of openwrt/luci
 * (modules/luci-base/htdocs/luci-static/resources/luci.js), reduced to what the
 * wgts views use. Written from LuCI's documented client API, not copied.
 *
 * Stands in for, from luci.js:
 *   L (LuCI)     env, require() with 'require NAME [as ALIAS]' declarations,
 *                toArray, raise, error
 *   baseclass    LuCI.baseclass: extend, isSubclass, instantiate
 *   dom          LuCI.dom: create (the global E), content, append
 *   poll         LuCI.poll: add, start
 *   view         LuCI.view: load() then render() into #view, and the Save footer
 *   _()          translation: returns the text unchanged
 * The other modules (rpc, uci, ui, form, network, uqr) are files beside this one,
 * loaded through require() exactly as LuCI loads its own.
 */
(function(window, document) {
	'use strict';

	/*
	 * Classes. Constructing one calls its __init__ (its own, or the nearest
	 * ancestor's), as LuCI's Class does. The stand-ins are ES classes derived
	 * from this one; a view's extend({...}) makes a subclass the same way.
	 */
	class Class {
		constructor(...args) {
			if (typeof this.__init__ === 'function')
				this.__init__(...args);
		}

		static extend(properties) {
			const Sub = class extends this {};
			for (const key of Object.keys(properties))
				Object.defineProperty(Sub.prototype, key, { value: properties[key], writable: true, configurable: true });
			return Sub;
		}

		static isSubclass(candidate) {
			return typeof candidate === 'function' && (candidate === this || candidate.prototype instanceof this);
		}

		static instantiate(args) {
			return new this(...(args || []));
		}
	}

	// -- dom --------------------------------------------------------------------

	function isNodeLike(value) {
		return value instanceof Node || Array.isArray(value) || typeof value === 'string' || typeof value === 'number';
	}

	const dom = {
		/* E(tag, attrs, children); E([nodes]) makes a fragment. */
		create: function(tag, attrs, children) {
			if (Array.isArray(tag)) {
				const fragment = document.createDocumentFragment();
				dom.append(fragment, tag);
				return fragment;
			}
			const node = document.createElement(tag);
			if (isNodeLike(attrs) && children === undefined) {
				children = attrs;
				attrs = null;
			}
			for (const [key, value] of Object.entries(attrs || {})) {
				if (value == null || value === false)
					continue;
				if (typeof value === 'function')
					node.addEventListener(key, value);
				else
					node.setAttribute(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
			}
			if (children != null)
				dom.append(node, children);
			return node;
		},

		append: function(node, children) {
			if (children == null)
				return node;
			if (Array.isArray(children) || children instanceof NodeList) {
				Array.from(children).forEach((child) => dom.append(node, child));
				return node;
			}
			if (typeof children === 'function')
				return dom.append(node, children(node));
			node.appendChild(children instanceof Node ? children : document.createTextNode(String(children)));
			return node;
		},

		content: function(node, children) {
			while (node.firstChild)
				node.removeChild(node.firstChild);
			return dom.append(node, children);
		}
	};

	// -- poll -------------------------------------------------------------------

	/* Each function runs every `interval` seconds, never twice at once, as with LuCI's poll. */
	const poll = {
		queue: [],
		running: false,

		add: function(fn, interval) {
			const entry = { fn: fn, interval: (interval > 0 ? interval : L.env.pollinterval) * 1000, timer: null };
			this.queue.push(entry);
			if (this.running)
				this.schedule(entry, entry.interval);
			return true;
		},

		schedule: function(entry, delay) {
			entry.timer = setTimeout(() => {
				Promise.resolve().then(entry.fn).catch((e) => console.error('poll:', e)).then(() => {
					if (this.running && this.queue.indexOf(entry) >= 0)
						this.schedule(entry, entry.interval);
				});
			}, delay);
		},

		start: function() {
			if (this.running)
				return false;
			this.running = true;
			this.queue.forEach((entry) => this.schedule(entry, entry.interval));
			return true;
		}
	};

	// -- view -------------------------------------------------------------------

	const View = Class.extend({
		__init__: function() {
			const root = document.getElementById('view');
			dom.content(root, E('div', { 'class': 'spinning' }, _('Loading view…')));
			return Promise.resolve(this.load()).then((data) => this.render(data)).then((nodes) => {
				dom.content(root, nodes);
				dom.append(root, this.addFooter());
				root.setAttribute('data-loaded', 'true');
			}).catch((e) => L.error(e));
		},
		load: function() {},
		render: function() {},
		handleSave: function() {},
		handleSaveApply: function() {},
		handleReset: function() {},
		addFooter: function() {
			const buttons = [];
			if (this.handleSave)
				buttons.push(E('button', { 'class': 'btn cbi-button cbi-button-save', 'click': () => this.handleSave() }, _('Save')));
			return buttons.length ? E('div', { 'class': 'cbi-page-actions' }, buttons) : E([]);
		}
	});

	// -- L ----------------------------------------------------------------------

	const classes = {
		baseclass: Promise.resolve(Class),
		dom: Promise.resolve(dom),
		poll: Promise.resolve(poll),
		view: Promise.resolve(View)
	};

	/* The leading 'use strict' / 'require NAME [as ALIAS]' string statements of a module. */
	function declarations(source) {
		const pattern = /^\s*(['"])(use strict|require[ \t]+[^'"]+)\1\s*;?/;
		const requires = [];
		let rest = source, m;
		while ((m = pattern.exec(rest)) !== null) {
			const words = m[2].split(/[ \t]+/);
			if (words[0] === 'require')
				requires.push({ name: words[1], as: words[3] || words[1].replace(/[^a-zA-Z0-9_]/g, '_') });
			rest = rest.substring(m[0].length);
		}
		return requires;
	}

	const L = {
		env: Object.assign({
			base_url: '/luci-static/resources',
			ubuspath: '/ubus/',
			sessionid: '00000000000000000000000000000000',
			pollinterval: 5
		}, window.LUCI_HARNESS_ENV || {}),

		require: function(name, from) {
			from = from || [];
			if (from.indexOf(name) >= 0)
				return Promise.reject(new Error('Circular dependency: ' + [ name ].concat(from).join(' <- ')));
			if (classes[name])
				return classes[name];
			const url = L.env.base_url + '/' + name.replace(/\./g, '/') + '.js';
			classes[name] = fetch(url).then((res) => {
				if (!res.ok)
					L.raise('NetworkError', 'HTTP error ' + res.status + ' while loading class file "' + url + '"');
				return res.text();
			}).then((source) => {
				const requires = declarations(source);
				return Promise.all(requires.map((r) => L.require(r.name, [ name ].concat(from)))).then((instances) => {
					const factory = new Function(...[ 'window', 'document', 'L' ].concat(requires.map((r) => r.as)),
						source + '\n//# sourceURL=' + new URL(url, location.href).href);
					const cls = factory.apply(factory, [ window, document, L ].concat(instances));
					if (!Class.isSubclass(cls))
						L.raise('TypeError', '"' + name + '" factory yields invalid constructor');
					return new cls();
				});
			});
			return classes[name];
		},

		toArray: function(value) {
			if (value == null)
				return [];
			if (Array.isArray(value))
				return value;
			if (typeof value === 'object')
				return [ value ];
			const s = String(value).trim();
			return s === '' ? [] : s.split(/\s+/);
		},

		raise: function(type, message) {
			const e = new Error(message);
			e.name = type;
			throw e;
		},

		/* Shows an error in the view, as LuCI does, then rethrows it. */
		error: function(e) {
			const root = document.getElementById('view');
			if (root)
				dom.content(root, E('pre', { 'class': 'alert-message error harness-runtime-error' },
					(e && e.name ? e.name + ': ' : '') + (e && e.message ? e.message : e) + '\n' + (e && e.stack ? e.stack : '')));
			throw e;
		}
	};

	window.L = L;
	window.E = dom.create;
	window._ = (text) => text;

	// LuCI starts polling once the page is set up.
	document.addEventListener('DOMContentLoaded', () => poll.start());
})(window, document);
