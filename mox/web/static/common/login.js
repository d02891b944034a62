// The login form, session resume and logout shared by the account, admin and webmail pages
// (loaded after dom.js, before each page's script). Each page has #login (with #login-form,
// #password, #login-error, for the account and webmail pages #username) and #app.
'use strict';

// root: '/account', '/admin' or '/webmail'. start(session) shows the page for a session (from
// login or resume); onLogout() drops what the page holds (a WebSocket, an opened message).
// Returns {showLogin(message), logout(csrf), resume()}.
function pageLogin(root, start, onLogout) {
	const user = $('#username');
	const showLogin = (message) => {
		onLogout?.();
		$('#app').hidden = true;
		$('#login').hidden = false;
		$('#login-error').textContent = message || '';
		$('#password').value = '';
		(user || $('#password')).focus();
	};
	const begin = async (sess) => {
		$('#login').hidden = true;
		$('#app').hidden = false;
		await start(sess);
	};
	$('#login-form').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		$('#login-error').textContent = '';
		const creds = user ? {username: user.value, password: $('#password').value} : {password: $('#password').value};
		const r = await fetch(root + '/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(creds)});
		if (!r.ok) {
			$('#login-error').textContent = r.status === 429 ? 'Too many attempts, try again later.' : 'Login failed.';
			return;
		}
		$('#password').value = '';
		await begin(await r.json());
	});
	const logout = async (csrf) => {
		await fetch(root + '/logout', {method: 'POST', headers: {'x-mox-csrf': csrf}});
		showLogin('Logged out.');
	};
	// After a reload: the session the cookie still holds, else the login form.
	const resume = async () => {
		const r = await fetch(root + '/session');
		if (r.ok) await begin(await r.json());
		else showLogin('');
	};
	return {showLogin, logout, resume};
}
