// The JSON API client shared by the account, admin and webmail pages (loaded before each page's
// script): POST /<page>/api/<Method> with a JSON object and the session's CSRF header.
'use strict';

class APIError extends Error {
	constructor(code, message) { super(message); this.code = code; }
}

// The body of an API answer, or an APIError with the server's code and message. A session that
// ended (user:noAuth) also calls onNoAuth, which shows the page's login form.
async function apiAnswer(r, onNoAuth) {
	let body = null;
	try { body = await r.json(); } catch (e) { /* not JSON */ }
	if (!r.ok) {
		const err = new APIError(body?.code || 'server:error', body?.message || ('HTTP ' + r.status));
		if (err.code === 'user:noAuth' && onNoAuth) onNoAuth();
		throw err;
	}
	return body;
}

// call(method, obj) for the API under root ('/admin/api/'); csrf() returns the current token.
function apiCaller(root, csrf, onNoAuth) {
	return async (method, obj) => {
		const r = await fetch(root + method, {
			method: 'POST',
			headers: {'Content-Type': 'application/json', 'x-mox-csrf': csrf()},
			body: JSON.stringify(obj || {}),
		});
		return apiAnswer(r, onNoAuth);
	};
}
