'use strict';
'require baseclass';

/*
 * Test harness: stand-in for luci-lib-uqr (openwrt/luci libs/luci-lib-uqr, once
 * part of luci-base), the QR code library LuCI ships: renderSVG(text, options)
 * returns an SVG document as text. LuCI's file is a trimmed copy of the uqr
 * library (Anthony Fu, from Project Nayuki's encoder) with its own renderSVG;
 * here the encoder comes from uqr's npm package, bundled by the test server
 * into UQR_LIBRARY below.
 */

const library = (function() {
	/* UQR_LIBRARY */
	return null;
})();

/*
 * LuCI's renderSVG draws the encoded matrix itself: an SVG sized pixelSize per
 * module (border included), a whiteColor background and one blackColor path.
 */
return baseclass.extend({
	renderSVG: function(data, options) {
		if (!library)
			throw new Error('harness: the uqr library was not bundled into this module');
		options = options || {};
		const qr = library.encode(data, options);
		const px = options.pixelSize || 1, size = qr.size * px;
		let path = '';
		qr.data.forEach((row, y) => row.forEach((dark, x) => {
			if (dark)
				path += 'M' + (x * px) + ',' + (y * px) + 'h' + px + 'v' + px + 'h-' + px + 'z';
		}));
		return '<svg xmlns="http://www.w3.org/2000/svg" width="' + size + '" height="' + size + '">' +
			'<rect fill="' + (options.whiteColor || 'white') + '" width="' + size + '" height="' + size + '"/>' +
			'<path fill="' + (options.blackColor || 'black') + '" d="' + path + '"/></svg>';
	}
});
