'use strict';
'require baseclass';
'require dom';

/*
 * Test harness: stand-in for LuCI ui.js (openwrt/luci modules/luci-base/htdocs/
 * luci-static/resources/ui.js) and the part of validation.js the widgets use:
 *   widgets      Textfield, Checkbox, DynamicList: getValue, setValue, isValid,
 *                triggerValidation; widget-update and widget-change events
 *   validation   a widget runs its validate function on input: a failure marks
 *                the field cbi-input-invalid and puts the message in data-tooltip,
 *                an empty required field reads "Expecting: non-empty value"
 *   tooltips     [data-tooltip] shows a .cbi-tooltip on hover or focus
 *   showModal, hideModal, addNotification, createHandlerFn
 * Datatype expressions (validation.js types) are not implemented: the wgts views
 * check their inputs with their own validate functions.
 */

class AbstractElement extends baseclass {
	__init__(value, options) {
		this.value = value;
		this.options = Object.assign({ optional: true }, options);
		this.validState = true;
		this.validator = null;
	}

	getValue() {
		return this.field ? this.field.value : this.value;
	}

	setValue(value) {
		if (this.field)
			this.field.value = (value == null) ? '' : value;
		else
			this.value = value;
	}

	isValid() {
		return this.validState;
	}

	getValidationError() {
		return this.validationError || '';
	}

	/* Runs the validator on what the field holds now, as LuCI's validator does on input events. */
	triggerValidation() {
		if (!this.validator)
			return true;
		return this.validator();
	}

	/* Validation of `field` on input; like LuCI, nothing is marked before the user (or a save) asks. */
	setValidator(field, value) {
		this.validator = () => {
			const text = value();
			let message = null;
			if ((text === '' || text == null) && !this.allowsEmpty())
				message = 'Expecting: non-empty value';
			if (message === null && typeof this.options.validate === 'function') {
				const result = this.options.validate(text == null ? '' : text);
				if (result !== true)
					message = (typeof result === 'string') ? result : 'Invalid value';
			}
			this.validState = (message === null);
			this.validationError = message || '';
			field.classList.toggle('cbi-input-invalid', message !== null);
			if (message !== null) {
				field.setAttribute('data-tooltip', message);
				field.setAttribute('data-tooltip-style', 'error');
			}
			else {
				field.removeAttribute('data-tooltip');
				field.removeAttribute('data-tooltip-style');
			}
			return this.validState;
		};
		[ 'input', 'blur', 'keyup' ].forEach((ev) => field.addEventListener(ev, this.validator));
	}

	allowsEmpty() {
		return this.options.optional;
	}

	/* widget-update on every keystroke, widget-change when the value is committed. */
	setEvents(field) {
		field.addEventListener('input', () => this.node.dispatchEvent(
			new CustomEvent('widget-update', { bubbles: true, detail: { value: this.getValue() } })));
		field.addEventListener('change', () => this.node.dispatchEvent(
			new CustomEvent('widget-change', { bubbles: true, detail: { value: this.getValue() } })));
	}
}

class Textfield extends AbstractElement {
	render() {
		const o = this.options;
		this.field = E('input', {
			'id': o.id ? 'widget.' + o.id : null,
			'type': o.password ? 'password' : 'text',
			'class': o.password ? 'cbi-input-password' : 'cbi-input-text',
			'placeholder': o.placeholder || null,
			'autocomplete': 'off'
		});
		this.field.value = (this.value == null) ? '' : this.value;
		const children = [ this.field ];
		if (o.password)
			children.push(E('button', {
				'class': 'cbi-button cbi-button-neutral harness-reveal',
				'title': 'Reveal/hide password',
				'click': (ev) => {
					ev.preventDefault();
					this.field.type = (this.field.type === 'password') ? 'text' : 'password';
				}
			}, '∗'));
		this.node = E('div', { 'id': o.id || null, 'class': 'cbi-input-wrap' }, children);
		this.setValidator(this.field, () => this.field.value);
		this.setEvents(this.field);
		return this.node;
	}
}

class Checkbox extends AbstractElement {
	render() {
		const o = this.options, on = (o.value_enabled != null) ? o.value_enabled : '1';
		this.field = E('input', { 'id': o.id ? 'widget.' + o.id : null, 'type': 'checkbox' });
		this.field.checked = (this.value == on);
		this.node = E('div', { 'id': o.id || null, 'class': 'cbi-checkbox' }, [ this.field, E('label', { 'for': o.id ? 'widget.' + o.id : null }) ]);
		this.setEvents(this.field);
		return this.node;
	}

	getValue() {
		const o = this.options;
		return this.field.checked ? (o.value_enabled != null ? o.value_enabled : '1') : (o.value_disabled != null ? o.value_disabled : '0');
	}

	setValue(value) {
		this.field.checked = (value == (this.options.value_enabled != null ? this.options.value_enabled : '1'));
	}
}

/* A list of values, each removable, and a text field that adds a value on Enter or "+". */
class DynamicList extends AbstractElement {
	/* LuCI's signature: (values, choices, options); the wgts views offer no choices. */
	__init__(values, choices, options) {
		super.__init__(values, options);
	}

	render() {
		const o = this.options;
		this.list = E('div', { 'class': 'cbi-dynlist-items' });
		this.field = E('input', { 'id': o.id ? 'widget.' + o.id : null, 'type': 'text', 'class': 'cbi-input-text', 'placeholder': o.placeholder || null });
		const add = E('button', { 'class': 'cbi-button cbi-button-add harness-dynlist-add', 'click': (ev) => { ev.preventDefault(); this.addPending(); } }, '+');
		this.node = E('div', { 'id': o.id || null, 'class': 'cbi-dynlist' }, [ this.list, E('div', { 'class': 'add-item' }, [ this.field, add ]) ]);
		L.toArray(this.value).forEach((v) => this.addItem(v));
		this.setValidator(this.field, () => this.field.value.trim());
		this.field.addEventListener('keydown', (ev) => {
			if (ev.key === 'Enter') {
				ev.preventDefault();
				this.addPending();
			}
		});
		return this.node;
	}

	/* An empty field is fine once the list has items (they were checked when added). */
	allowsEmpty() {
		return this.options.optional || this.items().length > 0;
	}

	items() {
		return Array.from(this.list.querySelectorAll('.item')).map((item) => item.getAttribute('data-value'));
	}

	addItem(value) {
		const item = E('div', { 'class': 'item', 'data-value': value }, [
			E('span', {}, value),
			E('span', { 'class': 'harness-dynlist-remove', 'title': 'Remove', 'click': () => {
				item.remove();
				this.changed();
			} }, ' ×')
		]);
		this.list.appendChild(item);
	}

	addPending() {
		const value = this.field.value.trim();
		if (value === '' || !this.triggerValidation())
			return;
		this.addItem(value);
		this.field.value = '';
		this.triggerValidation();
		this.changed();
	}

	changed() {
		this.node.dispatchEvent(new CustomEvent('widget-change', { bubbles: true, detail: { value: this.getValue() } }));
	}

	/* The items, and what is typed but not yet added when it is valid (as LuCI's list does). */
	getValue() {
		const values = this.items(), pending = this.field.value.trim();
		if (pending !== '' && this.validState && values.indexOf(pending) < 0)
			values.push(pending);
		return values;
	}

	setValue(values) {
		dom.content(this.list, []);
		L.toArray(values).forEach((v) => this.addItem(v));
	}
}

let tooltip = null;

function showTooltip(ev) {
	const target = ev.target && ev.target.closest ? ev.target.closest('[data-tooltip]') : null;
	if (!target)
		return;
	hideTooltip();
	const rect = target.getBoundingClientRect();
	tooltip = E('div', {
		'class': 'cbi-tooltip' + (target.getAttribute('data-tooltip-style') === 'error' ? ' error' : ''),
		'style': 'position:absolute;left:' + (rect.left + window.scrollX) + 'px;top:' + (rect.bottom + window.scrollY + 4) + 'px'
	}, target.getAttribute('data-tooltip'));
	document.body.appendChild(tooltip);
}

function hideTooltip() {
	if (tooltip)
		tooltip.remove();
	tooltip = null;
}

document.addEventListener('mouseover', showTooltip, true);
document.addEventListener('focusin', showTooltip, true);
document.addEventListener('mouseout', hideTooltip, true);
document.addEventListener('focusout', hideTooltip, true);

return baseclass.extend({
	Textfield: Textfield,
	Checkbox: Checkbox,
	DynamicList: DynamicList,

	showModal: function(title, children, ...classes) {
		let overlay = document.getElementById('modal_overlay');
		if (!overlay) {
			overlay = E('div', { 'id': 'modal_overlay' }, E('div', { 'class': 'modal', 'role': 'dialog', 'aria-modal': 'true' }));
			document.body.appendChild(overlay);
		}
		const dialog = overlay.firstChild;
		dialog.className = [ 'modal' ].concat(classes).join(' ');
		dom.content(dialog, [ title ? E('h4', {}, title) : '' ].concat(children));
		document.body.classList.add('modal-overlay-active');
		return dialog;
	},

	hideModal: function() {
		document.body.classList.remove('modal-overlay-active');
		const overlay = document.getElementById('modal_overlay');
		if (overlay)
			dom.content(overlay.firstChild, []);
	},

	addNotification: function(title, children, ...classes) {
		const box = E('div', { 'class': [ 'alert-message' ].concat(classes).join(' ') }, [
			E('button', { 'class': 'btn harness-dismiss', 'style': 'float:right', 'click': () => box.remove() }, 'Dismiss'),
			title ? E('h4', {}, title) : '',
			E('div', {}, children)
		]);
		const main = document.getElementById('maincontent') || document.body;
		main.insertBefore(box, main.firstChild);
		return box;
	},

	/* An event handler calling fn(args..., event); a button is disabled while its promise runs. */
	createHandlerFn: function(ctx, fn, ...args) {
		if (typeof fn === 'string')
			fn = ctx[fn];
		return function(ev) {
			const target = ev ? ev.currentTarget : null;
			const result = fn.apply(ctx, args.concat([ ev ]));
			if (result && typeof result.then === 'function' && target) {
				target.classList.add('spinning');
				target.disabled = true;
				Promise.resolve(result).catch(() => {}).then(() => {
					target.classList.remove('spinning');
					target.disabled = false;
				});
			}
			return result;
		};
	}
});
