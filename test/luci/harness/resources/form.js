'use strict';
'require baseclass';
'require dom';
'require uci';
'require ui';

/*
 * Test harness: stand-in for LuCI form.js (openwrt/luci modules/luci-base/htdocs/
 * luci-static/resources/form.js), the classes the wgts views use:
 *   Map            load(), render(), save(cb, silent) (parse every option, uci save,
 *                  load again; a failure shows the "Save error" dialog unless silent)
 *   NamedSection   one section, with tab() and taboption()
 *   GridSection    a table of the sections of a type, textvalue() per column;
 *                  Add / Edit open a dialog with every option (modalonly ones too)
 *                  whose Save parses that section and saves it, as LuCI's does
 *   SectionValue   an option holding a section (subsection)
 *   Value, DynamicList, Flag, DummyValue
 * Option semantics follow form.js: load() gives cfgvalue(); parse() refuses an
 * invalid widget ('Option "TITLE" contains an invalid input value.') or an
 * empty required one ('... must not be empty.'), removes an empty optional one,
 * and writes a changed value; rmempty is true unless set false; validate(),
 * onchange(ev, section_id, value), textvalue(), write(), remove() may be
 * replaced on an option. Options are found by getUIElement(section_id, option).
 * Not implemented (the views use none): depends(), datatype, ListValue,
 * TypedSection/TableSection rendering, JSONMap, cloning options into a modal map.
 */

function isEqual(a, b) {
	const norm = (v) => (v == null || v === '' ? [] : L.toArray(v).map(String));
	return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

class AbstractElement extends baseclass {
	__init__(title, description) {
		this.title = title || '';
		this.description = description || '';
		this.children = [];
	}

	append(child) {
		this.children.push(child);
	}
}

class CBIMap extends AbstractElement {
	__init__(config, title, description) {
		super.__init__(title, description);
		this.config = config;
		this.data = uci;
		this.widgets = {};
	}

	section(cls, ...args) {
		const section = cls.instantiate([ this ].concat(args));
		this.append(section);
		return section;
	}

	load() {
		return uci.load(this.config).then(() => Promise.all(this.children.map((s) => s.load())));
	}

	render() {
		return this.load().then(() => this.renderContents());
	}

	renderContents() {
		this.widgets = {};
		return Promise.all(this.children.map((s) => s.render())).then((sections) => {
			const root = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + this.config }, [
				this.title ? E('h2', {}, this.title) : '',
				this.description ? E('div', { 'class': 'cbi-map-descr' }, this.description) : ''
			].concat(sections));
			if (this.root && this.root.parentNode)
				this.root.parentNode.replaceChild(root, this.root);
			this.root = root;
			return root;
		});
	}

	parse() {
		return Promise.all(this.children.map((s) => s.parse()));
	}

	save(cb, silent) {
		return this.parse().then(cb).then(() => uci.save()).then(() => this.load()).catch((e) => {
			if (!silent)
				ui.showModal('Save error', [
					E('p', {}, 'An error occurred while saving the form:'),
					E('p', {}, [ E('em', { 'style': 'white-space:pre-wrap', 'class': 'harness-save-error' }, e.message) ]),
					E('div', { 'class': 'right' }, [ E('button', { 'class': 'cbi-button', 'click': () => ui.hideModal() }, 'Dismiss') ])
				]);
			return Promise.reject(e);
		}).then(() => this.renderContents());
	}

	findElements(selector) {
		return this.root.querySelectorAll(selector);
	}

	findElement(selector) {
		return this.root.querySelector(selector);
	}

	registerWidget(section_id, option, widget) {
		this.widgets[section_id + '\n' + option] = widget;
	}

	widget(section_id, option) {
		return this.widgets[section_id + '\n' + option] || null;
	}

	forgetWidgets(section_id) {
		Object.keys(this.widgets).filter((k) => k.indexOf(section_id + '\n') === 0).forEach((k) => delete this.widgets[k]);
	}
}

class AbstractSection extends AbstractElement {
	__init__(map, sectiontype, title, description) {
		super.__init__(title, description);
		this.map = map;
		this.sectiontype = sectiontype;
		this.tabs = null;
		this.tabNames = [];
	}

	tab(name, title, description) {
		if (this.tabs && this.tabs[name])
			throw new Error('Tab "' + name + '" already declared');
		this.tabs = this.tabs || {};
		this.tabs[name] = { title: title, description: description };
		this.tabNames.push(name);
	}

	option(cls, option, title, description) {
		const o = cls.instantiate([ this.map, this, option, title, description ]);
		this.append(o);
		return o;
	}

	taboption(tab, ...args) {
		if (!this.tabs || !this.tabs[tab])
			throw new Error('Associated tab "' + tab + '" not declared');
		const o = this.option(...args);
		o.tab = tab;
		return o;
	}

	getOption(option) {
		return this.children.filter((o) => o.option === option)[0] || null;
	}

	getUIElement(section_id, option) {
		return this.map.widget(section_id, option);
	}

	formvalue(section_id, option) {
		const o = this.getOption(option);
		return o ? o.formvalue(section_id) : null;
	}

	cfgvalue(section_id, option) {
		const o = this.getOption(option);
		return o ? o.cfgvalue(section_id) : null;
	}

	loadOptions(section_id, options) {
		return Promise.all(options.map((o) => Promise.resolve(o.load(section_id)).then((v) => o.cfgvalue(section_id, v))));
	}

	load() {
		return Promise.all(this.cfgsections().map((sid) => this.loadOptions(sid, this.children)));
	}

	parse() {
		return Promise.all(this.cfgsections().map((sid) => Promise.all(this.children.map((o) => o.parse(sid)))));
	}
}

class NamedSection extends AbstractSection {
	__init__(map, section_id, sectiontype, title, description) {
		super.__init__(map, sectiontype, title, description);
		this.section = section_id;
	}

	cfgsections() {
		return [ this.section ];
	}

	render() {
		const sid = this.section;
		return Promise.all(this.children.map((o) => o.render(sid))).then((rows) => {
			const untabbed = rows.filter((r, i) => !this.children[i].tab);
			if (!this.tabs)
				return E('div', { 'class': 'cbi-section', 'data-section': sid }, untabbed);
			this.activeTab = this.activeTab || this.tabNames[0];
			const panes = {}, items = {};
			this.tabNames.forEach((name) => {
				panes[name] = E('div', { 'class': 'cbi-tab-pane', 'data-tab': name, 'data-tab-title': this.tabs[name].title },
					this.tabs[name].description ? [ E('div', { 'class': 'cbi-tab-descr' }, this.tabs[name].description) ] : []);
				items[name] = E('li', { 'class': 'cbi-tab', 'data-tab': name, 'click': () => show(name) }, E('a', { 'href': '#' }, this.tabs[name].title));
			});
			const show = (name) => {
				this.activeTab = name;
				this.tabNames.forEach((n) => {
					panes[n].style.display = (n === name) ? '' : 'none';
					items[n].className = (n === name) ? 'cbi-tab' : 'cbi-tab-disabled';
				});
			};
			rows.forEach((row, i) => {
				if (this.children[i].tab)
					panes[this.children[i].tab].appendChild(row);
			});
			show(this.activeTab);
			return E('div', { 'class': 'cbi-section', 'data-section': sid }, untabbed.concat([
				E('ul', { 'class': 'cbi-tabmenu' }, this.tabNames.map((n) => items[n]))
			], this.tabNames.map((n) => panes[n])));
		});
	}
}

class GridSection extends AbstractSection {
	__init__(map, sectiontype, title, description) {
		super.__init__(map, sectiontype, title, description);
		this.anonymous = false;
		this.addremove = false;
	}

	cfgsections() {
		return uci.sections(this.map.config, this.sectiontype).map((s) => s['.name']);
	}

	/* The table lists saved sections; their options are parsed by the Edit dialog, not here. */
	parse() {
		return Promise.resolve();
	}

	renderSectionPlaceholder() {
		return E('em', {}, 'This section contains no values yet');
	}

	render() {
		const columns = this.children.filter((o) => o.modalonly !== true);
		const sids = this.cfgsections();
		const rows = sids.map((sid) => E('tr', { 'class': 'tr cbi-section-table-row', 'data-sid': sid },
			columns.map((o) => E('td', { 'class': 'td cbi-value-field', 'data-name': o.option, 'data-title': o.title }, o.textvalue(sid)))
				.concat([ E('td', { 'class': 'td cbi-section-table-cell nowrap cbi-section-actions' }, [
					E('button', { 'class': 'btn cbi-button cbi-button-edit', 'click': ui.createHandlerFn(this, 'renderMoreOptionsModal', sid) }, 'Edit'),
					' ',
					this.addremove ? E('button', { 'class': 'btn cbi-button cbi-button-remove', 'click': ui.createHandlerFn(this, 'handleRemove', sid) }, 'Delete') : ''
				]) ])));
		if (!rows.length)
			rows.push(E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': columns.length + 1 }, this.renderSectionPlaceholder())));
		const node = E('div', { 'class': 'cbi-section cbi-tblsection', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, [
			this.title ? E('h3', {}, this.title) : '',
			E('table', { 'class': 'table cbi-section-table' }, [
				E('tr', { 'class': 'tr cbi-section-table-titles' }, columns.map((o) => E('th', { 'class': 'th cbi-section-table-cell' }, o.title)).concat([ E('th', { 'class': 'th' }) ]))
			].concat(rows)),
			this.addremove ? E('div', { 'class': 'cbi-section-create' }, [
				E('button', { 'class': 'btn cbi-button cbi-button-add', 'click': ui.createHandlerFn(this, 'handleAdd') }, this.addbtntitle || 'Add')
			]) : ''
		]);
		if (this.node && this.node.parentNode)
			this.node.parentNode.replaceChild(node, this.node);
		this.node = node;
		return node;
	}

	handleAdd() {
		if (!this.anonymous)
			throw new Error('harness: only anonymous GridSections are implemented');
		this.addedSection = uci.add(this.map.config, this.sectiontype);
		return this.renderMoreOptionsModal(this.addedSection);
	}

	handleRemove(section_id) {
		uci.remove(this.map.config, section_id);
		return this.map.save(null, true);
	}

	renderMoreOptionsModal(section_id) {
		const fields = this.children.filter((o) => o.modalonly !== false);
		return this.loadOptions(section_id, fields).then(() => Promise.all(fields.map((o) => o.render(section_id)))).then((rows) => {
			ui.showModal(this.modaltitle || this.title || 'Edit', [
				E('div', { 'class': 'cbi-section cbi-modal-section', 'data-sid': section_id }, rows),
				E('div', { 'class': 'right' }, [
					E('button', { 'class': 'btn cbi-button harness-modal-dismiss', 'click': () => this.handleModalCancel(section_id) }, 'Dismiss'),
					' ',
					E('button', { 'class': 'btn cbi-button cbi-button-positive important harness-modal-save', 'click': ui.createHandlerFn(this, 'handleModalSave', section_id) }, 'Save')
				])
			], 'cbi-modal');
		});
	}

	handleModalCancel(section_id) {
		if (this.addedSection === section_id)
			uci.remove(this.map.config, section_id);
		this.addedSection = null;
		this.map.forgetWidgets(section_id);
		ui.hideModal();
		return this.render();
	}

	/* As LuCI's modal save: an invalid field only stays marked; nothing is saved then. */
	handleModalSave(section_id) {
		const fields = this.children.filter((o) => o.modalonly !== false);
		return Promise.all(fields.map((o) => o.parse(section_id))).then(() => uci.save()).then(() => {
			this.addedSection = null;
			this.map.forgetWidgets(section_id);
			ui.hideModal();
			return this.render();
		}, () => {});
	}
}

class AbstractValue extends AbstractElement {
	__init__(map, section, option, title, description) {
		super.__init__(title, description);
		this.map = map;
		this.section = section;
		this.option = option;
		this.rmempty = true;
		this.optional = false;
		this.default = null;
		this.data = {};
	}

	load(section_id) {
		return uci.get(this.map.config, section_id, this.option);
	}

	cfgvalue(section_id, value) {
		if (arguments.length === 2)
			this.data[section_id] = value;
		return (this.data[section_id] != null) ? this.data[section_id] : null;
	}

	formvalue(section_id) {
		const widget = this.getUIElement(section_id);
		return widget ? widget.getValue() : null;
	}

	getUIElement(section_id) {
		return this.section.getUIElement(section_id, this.option);
	}

	textvalue(section_id) {
		const value = (this.cfgvalue(section_id) != null) ? this.cfgvalue(section_id) : this.default;
		return (value == null) ? '' : L.toArray(value).join(' ');
	}

	validate() {
		return true;
	}

	isValid(section_id) {
		const widget = this.getUIElement(section_id);
		return widget ? widget.isValid() : true;
	}

	triggerValidation(section_id) {
		const widget = this.getUIElement(section_id);
		return widget ? widget.triggerValidation() : true;
	}

	write(section_id, value) {
		uci.set(this.map.config, section_id, this.option, value);
	}

	remove(section_id) {
		uci.unset(this.map.config, section_id, this.option);
	}

	parse(section_id) {
		const widget = this.getUIElement(section_id);
		if (!widget)
			return Promise.resolve();
		const title = this.title.trim() || this.option;
		if (!widget.triggerValidation())
			return Promise.reject(new TypeError('Option "' + title + '" contains an invalid input value. ' + widget.getValidationError()));
		const fval = this.formvalue(section_id), cval = this.cfgvalue(section_id);
		if (fval == null || fval === '' || (Array.isArray(fval) && !fval.length)) {
			if (this.rmempty || this.optional)
				return Promise.resolve(this.remove(section_id));
			return Promise.reject(new TypeError('Option "' + title + '" must not be empty.'));
		}
		return Promise.resolve(isEqual(cval, fval) ? null : this.write(section_id, fval));
	}

	widgetOptions(section_id) {
		if (this.datatype)
			throw new Error('harness: datatype "' + this.datatype + '" is not implemented; use validate');
		return {
			id: 'cbid.' + this.map.config + '.' + section_id + '.' + this.option,
			optional: this.optional || this.rmempty,
			placeholder: this.placeholder,
			password: this.password,
			validate: (value) => this.validate(section_id, value)
		};
	}

	render(section_id) {
		const widget = this.renderWidget(section_id);
		if (typeof this.onchange === 'function')
			widget.addEventListener('widget-change', (ev) => this.onchange(ev, section_id, ev.detail.value));
		return E('div', {
			'class': 'cbi-value',
			'id': 'cbi-' + this.map.config + '-' + section_id + '-' + this.option,
			'data-name': this.option,
			'data-widget': this.widgetName
		}, [
			E('label', { 'class': 'cbi-value-title', 'for': 'widget.cbid.' + this.map.config + '.' + section_id + '.' + this.option }, this.title),
			E('div', { 'class': 'cbi-value-field' }, [
				widget,
				this.description ? E('div', { 'class': 'cbi-value-description' }, this.description) : ''
			])
		]);
	}

	/* The widget for the value shown: the loaded one, else the default. */
	initialValue(section_id) {
		const value = this.cfgvalue(section_id);
		return (value != null) ? value : this.default;
	}
}

class Value extends AbstractValue {
	get widgetName() { return 'CBI.Value'; }

	renderWidget(section_id) {
		const value = this.initialValue(section_id);
		const widget = new ui.Textfield(Array.isArray(value) ? value.join(' ') : value, this.widgetOptions(section_id));
		this.map.registerWidget(section_id, this.option, widget);
		return widget.render();
	}
}

class DynamicList extends AbstractValue {
	get widgetName() { return 'CBI.DynamicList'; }

	renderWidget(section_id) {
		const widget = new ui.DynamicList(L.toArray(this.initialValue(section_id)), null, this.widgetOptions(section_id));
		this.map.registerWidget(section_id, this.option, widget);
		return widget.render();
	}
}

class Flag extends AbstractValue {
	__init__(...args) {
		super.__init__(...args);
		this.enabled = '1';
		this.disabled = '0';
		this.default = this.disabled;
	}

	get widgetName() { return 'CBI.FlagValue'; }

	renderWidget(section_id) {
		const widget = new ui.Checkbox(this.initialValue(section_id), {
			id: 'cbid.' + this.map.config + '.' + section_id + '.' + this.option,
			value_enabled: this.enabled,
			value_disabled: this.disabled
		});
		this.map.registerWidget(section_id, this.option, widget);
		return widget.render();
	}

	textvalue(section_id) {
		return (this.initialValue(section_id) == this.enabled) ? 'Yes' : 'No';
	}

	/* An unticked flag at its default is left out rather than written as 0. */
	parse(section_id) {
		const widget = this.getUIElement(section_id);
		if (!widget)
			return Promise.resolve();
		const fval = widget.getValue(), cval = this.initialValue(section_id);
		if (fval == cval)
			return Promise.resolve();
		if (fval == this.default && this.rmempty)
			return Promise.resolve(this.remove(section_id));
		return Promise.resolve(this.write(section_id, fval));
	}
}

class DummyValue extends AbstractValue {
	get widgetName() { return 'CBI.DummyValue'; }

	renderWidget(section_id) {
		const value = this.cfgvalue(section_id);
		return E('div', { 'id': 'cbid.' + this.map.config + '.' + section_id + '.' + this.option },
			(value instanceof Node) ? value : (value == null ? '-' : String(value)));
	}

	parse() {
		return Promise.resolve();
	}
}

class SectionValue extends AbstractValue {
	__init__(map, section, option, cbiClass, ...args) {
		super.__init__(map, section, option);
		this.subsection = cbiClass.instantiate([ map ].concat(args));
		this.subsection.parentoption = this;
	}

	get widgetName() { return 'CBI.SectionValue'; }

	load() {
		return this.subsection.load();
	}

	parse() {
		return this.subsection.parse();
	}

	render() {
		return Promise.resolve(this.subsection.render()).then((node) =>
			E('div', { 'class': 'cbi-value cbi-section-value', 'data-name': this.option }, node));
	}
}

return baseclass.extend({
	Map: CBIMap,
	NamedSection: NamedSection,
	GridSection: GridSection,
	SectionValue: SectionValue,
	Value: Value,
	DynamicList: DynamicList,
	Flag: Flag,
	DummyValue: DummyValue
});
