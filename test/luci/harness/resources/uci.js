'use strict';
'require baseclass';
'require rpc';

/*
 * Test harness: stand-in for LuCI uci.js (openwrt/luci modules/luci-base/htdocs/
 * luci-static/resources/uci.js): load, get, set, unset, add, remove, sections,
 * save. Values live in the browser until save(), which sends the differences to
 * rpcd uci object as uci.js does (uci add for new sections, uci set for changed
 * options, uci delete for removed options and sections) and loads again.
 */

const callGet = rpc.declare({ object: 'uci', method: 'get', params: [ 'config' ], expect: { values: {} }, reject: true });
const callAdd = rpc.declare({ object: 'uci', method: 'add', params: [ 'config', 'type', 'name', 'values' ], expect: { section: '' }, reject: true });
const callSet = rpc.declare({ object: 'uci', method: 'set', params: [ 'config', 'section', 'values' ], reject: true });
const callDelete = rpc.declare({ object: 'uci', method: 'delete', params: [ 'config', 'section', 'options' ], reject: true });

function clone(value) {
	return JSON.parse(JSON.stringify(value));
}

function isMeta(option) {
	return option.charAt(0) === '.';
}

function sameValue(a, b) {
	return JSON.stringify(a) === JSON.stringify(b);
}

return baseclass.extend({
	__init__: function() {
		// What rpcd last sent, and the working copy the forms change.
		this.server = {};
		this.values = {};
	},

	load: function(configs) {
		const names = L.toArray(configs);
		return Promise.all(names.map((name) => callGet(name).then((values) => {
			this.server[name] = values;
			this.values[name] = clone(values);
		}))).then(() => names);
	},

	get: function(config, sid, option) {
		const section = this.values[config] && this.values[config][sid];
		if (!section)
			return null;
		if (option == null)
			return section;
		return section[option] != null ? section[option] : null;
	},

	set: function(config, sid, option, value) {
		const section = this.values[config] && this.values[config][sid];
		if (!section || option == null || isMeta(option))
			return;
		if (value == null || value === '' || (Array.isArray(value) && !value.length))
			delete section[option];
		else
			section[option] = Array.isArray(value) ? value.map(String) : String(value);
	},

	unset: function(config, sid, option) {
		this.set(config, sid, option, null);
	},

	add: function(config, type, name) {
		const values = this.values[config] = this.values[config] || {};
		const sid = name || ('new' + Math.random().toString(16).substring(2, 8));
		const index = Object.keys(values).reduce((max, k) => Math.max(max, values[k]['.index'] + 1), 0);
		values[sid] = { '.name': sid, '.type': type, '.anonymous': !name, '.index': index, '.new': true };
		return sid;
	},

	remove: function(config, sid) {
		if (this.values[config])
			delete this.values[config][sid];
	},

	sections: function(config, type, callback) {
		const values = this.values[config] || {};
		const list = Object.keys(values).map((k) => values[k])
			.filter((s) => type == null || s['.type'] === type)
			.sort((a, b) => a['.index'] - b['.index']);
		if (typeof callback === 'function')
			list.forEach((s) => callback.call(this, s, s['.name']));
		return list;
	},

	save: function() {
		const tasks = [];
		Object.keys(this.values).forEach((config) => {
			const server = this.server[config] || {}, mine = this.values[config];
			Object.keys(server).filter((sid) => !mine[sid]).forEach((sid) => tasks.push(() => callDelete(config, sid)));
			Object.keys(mine).forEach((sid) => {
				const section = mine[sid], options = Object.keys(section).filter((o) => !isMeta(o));
				if (section['.new']) {
					const values = {};
					options.forEach((o) => { values[o] = section[o]; });
					tasks.push(() => callAdd(config, section['.type'], section['.anonymous'] ? null : sid, values));
					return;
				}
				const before = server[sid], changed = {};
				options.filter((o) => !sameValue(before[o], section[o])).forEach((o) => { changed[o] = section[o]; });
				const removed = Object.keys(before).filter((o) => !isMeta(o) && section[o] == null);
				if (Object.keys(changed).length)
					tasks.push(() => callSet(config, sid, changed));
				if (removed.length)
					tasks.push(() => callDelete(config, sid, removed));
			});
		});
		return tasks.reduce((chain, task) => chain.then(task), Promise.resolve())
			.then(() => this.load(Object.keys(this.values)));
	}
});
