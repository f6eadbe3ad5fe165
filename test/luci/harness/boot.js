/*
 * Test harness: what LuCI does after loading a page, for the two entry points
 * the wgts package adds:
 *  - ?view=wgts/status: the menu action {"type": "view", "path": "wgts/status"}
 *    requires view.wgts.status, whose construction loads and renders it into #view.
 *  - ?proto=wgts&iface=wg0: Network > Interfaces > Edit (view/network/interfaces.js):
 *    a form.Map of network, the interface's section with General and Advanced
 *    tabs, filled by the protocol handler's renderFormOptions(s). LuCI shows it in
 *    a dialog; here it is the page, with the dialog's Save button below it.
 * window.harness exposes the loaded pieces to the test driving the page.
 */
(function() {
	'use strict';
	const params = new URLSearchParams(location.search);
	const root = document.getElementById('view');
	window.harness = {};

	if (params.get('view')) {
		L.require('view.' + params.get('view').replace(/\//g, '.')).then((view) => {
			window.harness.view = view;
		}).catch((e) => L.error(e));
		return;
	}

	const proto = params.get('proto'), iface = params.get('iface');
	Promise.all([ 'dom', 'form', 'network', 'uci', 'ui' ].map((name) => L.require(name))).then(([ dom, form, network, uci ]) =>
		L.require('protocol.' + proto).then(() => uci.load('network')).then(() => {
			const protocol = network.getProtocol(proto, iface);
			const map = new form.Map('network', 'Interfaces » ' + iface, protocol.getI18n());
			const section = map.section(form.NamedSection, iface, 'interface');
			section.tab('general', 'General Settings');
			section.tab('advanced', 'Advanced Settings');
			protocol.renderFormOptions(section);
			Object.assign(window.harness, { map: map, section: section, protocol: protocol, uci: uci });
			return map.render().then((node) => {
				dom.content(root, [
					node,
					E('div', { 'class': 'cbi-page-actions' }, [
						E('button', {
							'class': 'btn cbi-button cbi-button-save harness-save',
							'click': (ev) => {
								ev.preventDefault();
								map.save().then(() => { root.setAttribute('data-saved', String(Date.now())); }, () => {});
							}
						}, 'Save')
					])
				]);
				root.setAttribute('data-loaded', 'true');
			});
		})
	).catch((e) => L.error(e));
})();
