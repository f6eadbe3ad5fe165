'use strict';
'require baseclass';

/*
 * Test harness: stand-in for LuCI rpc.js (openwrt/luci modules/luci-base/htdocs/
 * luci-static/resources/rpc.js): declare() only. A call is the JSON-RPC 2.0
 * request uhttpd-mod-ubus takes, POSTed to L.env.ubuspath:
 *   { jsonrpc: "2.0", id, method: "call", params: [ session, object, method, args ] }
 * and its reply { result: [ ubus status, data ] } or { error: { code, message } }
 * is handled as rpc.js does: expect picks and type-checks a member (falling back
 * to its default), filter post-processes, reject: true turns a non-zero ubus
 * status into a rejection; a JSON-RPC error always rejects.
 */

const STATUS_TEXT = {
	0: 'Command OK', 1: 'Invalid command', 2: 'Invalid argument', 3: 'Method not found',
	4: 'Resource not found', 5: 'No data received', 6: 'Permission denied', 7: 'Request timeout',
	8: 'Not supported', 9: 'Unspecified error', 10: 'Connection lost'
};

let requestId = 1;

function typeOf(value) {
	return Object.prototype.toString.call(value);
}

return baseclass.extend({
	declare: function(options) {
		return function(...args) {
			const params = {};
			(options.params || []).forEach((name, i) => {
				if (args[i] !== undefined)
					params[name] = args[i];
			});
			const body = {
				jsonrpc: '2.0',
				id: requestId++,
				method: 'call',
				params: [ L.env.sessionid, options.object, options.method, params ]
			};
			const what = 'RPC call to ' + options.object + '/' + options.method;
			return fetch(L.env.ubuspath, {
				method: 'POST',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify(body)
			}).then((res) => {
				if (!res.ok)
					L.raise('RPCError', what + ' failed with HTTP error ' + res.status);
				return res.json();
			}).then((msg) => {
				if (msg.error)
					L.raise('RPCError', what + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
				let ret = null;
				if (Array.isArray(msg.result)) {
					if (options.reject && msg.result[0] !== 0)
						L.raise('RPCError', what + ' failed with ubus code ' + msg.result[0] + ': ' + (STATUS_TEXT[msg.result[0]] || '?'));
					ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
				}
				for (const key in (options.expect || {})) {
					if (ret != null && key !== '')
						ret = ret[key];
					if (ret == null || typeOf(ret) !== typeOf(options.expect[key]))
						ret = options.expect[key];
					break;
				}
				return typeof options.filter === 'function' ? options.filter(ret, params) : ret;
			});
		};
	}
});
