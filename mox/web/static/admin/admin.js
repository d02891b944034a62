// mox admin page: plain JavaScript, talks to /admin/api/<Method> (JSON, CSRF header).
'use strict';

// $ and el come from /static/common/dom.js, apiCaller from /static/common/api.js, pageLogin from
// /static/common/login.js.
let csrf = '';

const call = apiCaller('/admin/api/', () => csrf, () => session.showLogin('Session ended, log in again.'));

function say(text, ok) { $('#msg').textContent = text; $('#msg').className = ok ? 'good' : 'bad'; }
const act = (fn) => async (ev) => { ev?.preventDefault?.(); try { await fn(); } catch (e) { say(e.message, false); } };

async function start(sess) {
	csrf = sess.csrf;
	renderAccounts(await call('Accounts'));
	renderQueue(await call('Queue'));  // queue.js
	renderHoldRules(await call('QueueHoldRuleList'));
	renderRetired(await call('QueueRetired'));  // queue.js
	renderAliases(await call('Aliases'));  // details.js
	renderDomains(await call('Domains'));
	renderLevels(await call('LogLevels'));
}

function renderAccounts(r) {
	$('#accounts tbody').replaceChildren(...r.accounts.map((a) => el('tr', {'data-account': a.name},
		el('td', {}, el('a', {href: '#', class: 'account-link', onclick: act(() => showAccount(a.name))}, a.name)),
		el('td', {}, ...a.addresses.map((addr) => el('span', {class: 'addr'}, addr, ' ',
			el('button', {title: 'Remove address', onclick: act(async () => { if (confirm(`Remove address ${addr}?`)) renderAccounts(await call('AddressRemove', {address: addr})); })}, '×'), ' '))),
		el('td', {}, a.messages), el('td', {}, (a.disk_usage / 1048576).toFixed(1) + ' MB'),
		el('td', {}, el('button', {onclick: act(async () => {
			if (!confirm(`Remove account ${a.name}? Its messages stay on disk.`)) return;
			renderAccounts(await call('AccountRemove', {account: a.name}));
			say(`Account ${a.name} removed.`, true);
		})}, 'Remove')))));
	$('#addr-account').replaceChildren(...r.accounts.map((a) => el('option', {value: a.name}, a.name)));
}

function renderLevels(r) {
	const pkgs = ['', ...r.known];
	$('#levels tbody').replaceChildren(...pkgs.map((p) => {
		const sel = el('select', {'data-pkg': p, onchange: act(async () => { renderLevels(await call('LogLevelSet', {pkg: p, level: sel.value})); say('Log level changed.', true); })},
			...(p ? [el('option', {value: ''}, '(default)')] : []),
			...r.all.map((l) => el('option', {value: l, selected: r.levels[p] === l}, l)));
		return el('tr', {}, el('td', {}, p || '(default)'), el('td', {}, sel));
	}));
}

const session = pageLogin('/admin', start, () => { csrf = ''; });
$('#logout').addEventListener('click', () => session.logout(csrf));
$('#account-form').addEventListener('submit', act(async () => {
	renderAccounts(await call('AccountAdd', {account: $('#acc-name').value, address: $('#acc-address').value, password: $('#acc-password').value}));
	$('#account-form').reset();
	say('Account added.', true);
}));
$('#address-form').addEventListener('submit', act(async () => {
	renderAccounts(await call('AddressAdd', {address: $('#addr-address').value, account: $('#addr-account').value}));
	$('#address-form').reset();
	say('Address added.', true);
}));

// After the page's other scripts (queue.js, details.js) ran: resume the session or log in.
document.addEventListener('DOMContentLoaded', () => session.resume());
