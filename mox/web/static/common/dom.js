// DOM helpers shared by the account, admin and webmail pages (loaded before each page's script).
'use strict';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs, ...children) => {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === 'class') e.className = v;
		// Through the CSSOM: the CSP (style-src 'self') refuses style attributes, not this.
		else if (k === 'style') { if (v) e.style.cssText = v; }
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) e.append(c instanceof Node ? c : String(c ?? ''));
	return e;
};
