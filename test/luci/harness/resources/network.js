'use strict';
'require baseclass';
'require uci';

/*
 * Test harness: stand-in for LuCI network.js (openwrt/luci modules/luci-base/
 * htdocs/luci-static/resources/network.js): registerProtocol(), getProtocol(),
 * getIfnameOf() and the Protocol base class a handler extends. There is no
 * netifd here, so _ubus() (the interface status netifd reports) knows nothing.
 */

const protocols = {};

const Protocol = baseclass.extend({
	__init__: function(name) {
		this.sid = name;
	},

	_ubus: function() {
		return null;
	},

	get: function(option) {
		return uci.get('network', this.sid, option);
	},

	getIfname: function() {
		return this.sid;
	},

	isVirtual: function() {
		return false;
	},

	renderFormOptions: function() {}
});

return baseclass.extend({
	registerProtocol: function(name, methods) {
		const cls = Protocol.extend(Object.assign({ getProtocol: function() { return name; } }, methods));
		protocols[name] = cls;
		return cls;
	},

	getProtocol: function(name, sid) {
		return protocols[name] ? new protocols[name](sid) : null;
	},

	getIfnameOf: function(obj) {
		if (typeof obj === 'string')
			return obj;
		return (obj && typeof obj.getIfname === 'function') ? obj.getIfname() : null;
	}
});
