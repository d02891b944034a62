// mox account page: plain JavaScript, talks to /account/api/<Method> (JSON, CSRF header).
'use strict';

// $ and el come from /static/common/dom.js, apiCaller from /static/common/api.js, pageLogin from
// /static/common/login.js.
let csrf = '';
let info = null;

const call = apiCaller('/account/api/', () => csrf, () => session.showLogin('Session ended, log in again.'));

function say(sel, text, ok) {
	const p = $(sel);
	p.textContent = text;
	p.className = ok ? 'good' : 'bad';
}

async function start(sess) {
	csrf = sess.csrf;
	$('#export-csrf').value = csrf;
	info = await call('Account');
	$('#acc-name').textContent = info.account;
	$('#acc-info').textContent = `Logged in as ${info.address}. Addresses: ${info.addresses.join(', ')}. ` +
		`${info.messages} messages in ${info.mailboxes} mailboxes, ${(info.disk_usage / 1048576).toFixed(1)} MB.`;
	$('#key-login').replaceChildren(...info.addresses.map((a) => el('option', {value: a, selected: a === info.address}, a)));
	showWebhooks(info);
	showSuppressions(info.suppressions);
	await loadKeys();
	await loadSettings();  // settings.js
}

// Webhooks: mox's account page settings, with test calls of example payloads (mox's field names).
function exampleOutgoing() {
	return {
		Version: 0, Event: 'delivered', DSN: false, Suppressing: false, QueueMsgID: 101, FromID: 'MDEyMzQ1Njc4OWFiY2RlZg',
		MessageID: '<QnxzgulZK51utga6agH_rg@localhost>', Subject: 'Subject of original message', WebhookQueued: new Date().toISOString(),
		SMTPCode: 0, SMTPEnhancedCode: '', Error: '', Extra: {},
	};
}

function exampleIncoming() {
	return {
		Version: 0, From: [{Name: 'jan', Address: 'jan@localhost'}], To: [{Name: '', Address: info.address}], CC: [], BCC: [], ReplyTo: [],
		Subject: 'hi', MessageID: '<QnxzgulZK51utga6agH_rg@localhost>', InReplyTo: '', References: [], Date: new Date().toISOString(),
		Text: 'hello world\n', HTML: '',
		Structure: {ContentType: 'text/plain', ContentTypeParams: {charset: 'utf-8'}, ContentID: '', ContentDisposition: '', Filename: '', DecodedSize: 12, Parts: []},
		Meta: {MsgID: 201, MailFrom: 'jan@localhost', MailFromValidated: false, MsgFromValidated: true, RcptTo: info.address,
			DKIMVerifiedDomains: ['localhost'], RemoteIP: '127.0.0.1', Received: new Date().toISOString(), MailboxName: 'Inbox', Automated: false},
	};
}

function showWebhooks(i) {
	const out = i.outgoing_webhook || {url: '', authorization: '', events: []};
	$('#outgoing-url').value = out.url;
	$('#outgoing-authz').value = out.authorization;
	$('#outgoing-events').replaceChildren(el('legend', {}, 'Events (none checked: all)'), ...i.events.map((ev) =>
		el('label', {}, el('input', {type: 'checkbox', value: ev, checked: out.events.includes(ev)}), ' ' + ev)));
	const inc = i.incoming_webhook || {url: '', authorization: ''};
	$('#incoming-url').value = inc.url;
	$('#incoming-authz').value = inc.authorization;
	$('#outgoing-data').value = JSON.stringify(exampleOutgoing(), null, '\t');
	$('#incoming-data').value = JSON.stringify(exampleIncoming(), null, '\t');
	$('#keep-messages').value = i.keep_retired_message_period;
	$('#keep-webhooks').value = i.keep_retired_webhook_period;
}

function webhookForm(kind) {
	$(`#${kind}-form`).addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const obj = {url: $(`#${kind}-url`).value.trim(), authorization: $(`#${kind}-authz`).value};
		if (kind === 'outgoing') obj.events = [...$('#outgoing-events').querySelectorAll('input:checked')].map((x) => x.value);
		try {
			await call(kind === 'outgoing' ? 'OutgoingWebhookSave' : 'IncomingWebhookSave', obj);
			say(`#${kind}-msg`, obj.url ? 'Saved.' : 'Saved: no webhook.', true);
		} catch (e) {
			say(`#${kind}-msg`, e.message, false);
		}
	});
	$(`#${kind}-test`).addEventListener('click', async () => {
		const res = $(`#${kind}-result`);
		try {
			const data = JSON.parse($(`#${kind}-data`).value);
			say(`#${kind}-msg`, 'Calling…', true);
			const r = await call(kind === 'outgoing' ? 'OutgoingWebhookTest' : 'IncomingWebhookTest',
				{url: $(`#${kind}-url`).value.trim(), authorization: $(`#${kind}-authz`).value, data});
			say(`#${kind}-msg`, r.error ? 'Test call failed.' : 'Test call succeeded.', !r.error);
			res.textContent = `HTTP status: ${r.code || '-'}\nError: ${r.error || '-'}\nResponse:\n${r.response}`;
			res.hidden = false;
		} catch (e) {
			say(`#${kind}-msg`, e.message, false);
		}
	});
}
webhookForm('outgoing');
webhookForm('incoming');

$('#keep-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		await call('KeepRetiredPeriodsSave', {keep_retired_message_period: $('#keep-messages').value.trim(), keep_retired_webhook_period: $('#keep-webhooks').value.trim()});
		say('#keep-msg', 'Saved.', true);
	} catch (e) {
		say('#keep-msg', e.message, false);
	}
});

function showSuppressions(list) {
	$('#suppression-table tbody').replaceChildren(...list.map((x) => el('tr', {'data-address': x.BaseAddress},
		el('td', {}, x.OriginalAddress), el('td', {}, x.BaseAddress), el('td', {}, x.Manual ? 'yes' : 'no'),
		el('td', {}, new Date(x.Created).toLocaleString()), el('td', {}, x.Reason),
		el('td', {}, el('button', {onclick: async () => {
			try { await call('SuppressionRemove', {address: x.OriginalAddress}); await loadSuppressions(); } catch (e) { say('#suppression-msg', e.message, false); }
		}}, 'Remove')))));
	if (!list.length) $('#suppression-table tbody').append(el('tr', {}, el('td', {colspan: 6, class: 'muted'}, 'No suppressed addresses.')));
}

async function loadSuppressions() {
	showSuppressions((await call('SuppressionList')).suppressions);
}

$('#suppression-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		await call('SuppressionAdd', {address: $('#suppression-address').value, manual: true, reason: $('#suppression-reason').value});
		$('#suppression-form').reset();
		say('#suppression-msg', 'Added.', true);
		await loadSuppressions();
	} catch (e) {
		say('#suppression-msg', e.message, false);
	}
});

const session = pageLogin('/account', start, () => { csrf = ''; });
$('#logout').addEventListener('click', () => session.logout(csrf));

$('#password-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const p1 = $('#new-password').value, p2 = $('#new-password2').value;
	if (p1 !== p2) { say('#password-msg', 'The passwords differ.', false); return; }
	try {
		await call('SetPassword', {password: p1});
		$('#password-form').reset();
		csrf = '';
		session.showLogin('Password changed. Log in with the new password.');
	} catch (e) {
		say('#password-msg', e.message, false);
	}
});

async function loadKeys() {
	const r = await call('TLSPubKeyList');
	$('#keys tbody').replaceChildren(...r.keys.map((k) => el('tr', {'data-fingerprint': k.fingerprint},
		el('td', {}, k.name), el('td', {}, k.type), el('td', {}, k.login_address), el('td', {}, k.no_imap_preauth ? 'yes' : 'no'),
		el('td', {class: 'fp'}, k.fingerprint),
		el('td', {}, el('button', {class: 'rename', onclick: () => updateKey(k, {name: prompt('New name:', k.name) || k.name})}, 'Rename'), ' ',
			el('button', {class: 'preauth', onclick: () => updateKey(k, {no_imap_preauth: !k.no_imap_preauth})}, k.no_imap_preauth ? 'Allow preauth' : 'No preauth'), ' ',
			el('button', {onclick: async () => {
			if (!confirm(`Remove key ${k.name}?`)) return;
			try { await call('TLSPubKeyRemove', {fingerprint: k.fingerprint}); await loadKeys(); } catch (e) { say('#key-msg', e.message, false); }
		}}, 'Remove')))));
	if (!r.keys.length) $('#keys tbody').append(el('tr', {}, el('td', {colspan: 6, class: 'muted'}, 'No keys yet.')));
}

$('#key-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const file = $('#key-file').files[0];
	if (!file) return;
	try {
		const r = await call('TLSPubKeyAdd', {
			pem: await file.text(), name: $('#key-name').value, login_address: $('#key-login').value, no_imap_preauth: $('#key-nopreauth').checked,
		});
		$('#key-form').reset();
		say('#key-msg', `Added key ${r.key.name} (${r.key.fingerprint}).`, true);
		await loadKeys();
	} catch (e) {
		say('#key-msg', e.message, false);
	}
});

$('#import-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const prog = $('#import-progress');
	$('#import-start').disabled = true;
	try {
		// Upload with progress (XMLHttpRequest has upload events), then follow the import.
		const id = await new Promise((resolve, reject) => {
			const xhr = new XMLHttpRequest();
			xhr.open('POST', '/account/import');
			xhr.setRequestHeader('x-mox-csrf', csrf);
			xhr.responseType = 'json';
			prog.hidden = false;
			xhr.upload.onprogress = (e) => { if (e.lengthComputable) { prog.max = e.total; prog.value = e.loaded; say('#import-msg', `Uploading… ${Math.round(100 * e.loaded / e.total)}%`, true); } };
			xhr.onload = () => xhr.status === 200 ? resolve(xhr.response.id) : reject(new Error(xhr.response?.message || ('HTTP ' + xhr.status)));
			xhr.onerror = () => reject(new Error('upload failed'));
			xhr.send(new FormData($('#import-form')));
		});
		prog.removeAttribute('value');
		const r = await fetch('/account/importprogress/' + encodeURIComponent(id));
		const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
		let buf = '', last = null;
		for (;;) {
			const {value, done} = await reader.read();
			if (done) break;
			buf += value;
			let i;
			while ((i = buf.indexOf('\n')) >= 0) {
				last = JSON.parse(buf.slice(0, i));
				buf = buf.slice(i + 1);
				say('#import-msg', `Importing ${last.mailbox}: ${last.messages} messages…`, true);
			}
		}
		prog.hidden = true;
		if (!last || last.error) say('#import-msg', 'Import failed: ' + (last?.error || 'no result'), false);
		else say('#import-msg', `Imported ${last.messages} messages into ${last.mailboxes} mailbox(es).` + (last.problems.length ? ' Problems: ' + last.problems.join('; ') : ''), true);
		$('#import-form').reset();
	} catch (e) {
		prog.hidden = true;
		say('#import-msg', e.message, false);
	} finally {
		$('#import-start').disabled = false;
	}
});

// After the page's other scripts (settings.js) ran: resume the session or log in.
document.addEventListener('DOMContentLoaded', () => session.resume());
