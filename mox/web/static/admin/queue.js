// mox admin page: the queue (each message's next attempt and transport, hold, schedule, drop,
// fail) and its hold rules. Loaded after admin.js (uses its call(), say() and act()).
'use strict';

const fmtTime = (t) => t ? new Date(t * 1000).toLocaleString() : '';

// "in 5m", "3h ago": how far a time is from now, as mox's queue list shows it.
function relTime(t) {
	const secs = Math.round(t - Date.now() / 1000);
	const abs = Math.abs(secs);
	const s = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.floor(abs / 60)}m` : abs < 86400 ? `${Math.floor(abs / 3600)}h${Math.floor(abs % 3600 / 60)}m` : `${Math.floor(abs / 86400)}d`;
	return secs >= 0 ? 'in ' + s : s + ' ago';
}

function renderQueue(r) {
	const button = (cls, label, title, fn) => el('button', {class: cls, title, onclick: act(async () => renderQueue(await fn()))}, label);
	$('#queue tbody').replaceChildren(...r.queue.map((e) => el('tr', {'data-id': e.id},
		el('td', {}, e.id), el('td', {}, e.account), el('td', {}, e.mail_from || '<>'), el('td', {}, e.recipient), el('td', {}, e.size),
		el('td', {}, e.attempts),
		el('td', {class: 'next', title: fmtTime(e.next_attempt)}, e.hold ? 'held' : relTime(e.next_attempt)),
		el('td', {class: 'transport'}, e.transport || '(default)'),
		el('td', {class: 'requiretls'}, e.require_tls === true ? 'yes' : e.require_tls === false ? 'no' : 'default'), el('td', {}, e.last_error),
		el('td', {},
			button('hold', e.hold ? 'Release' : 'Hold', e.hold ? 'Deliver again' : 'Do not deliver until released', () => call('QueueHoldSet', {ids: [e.id], hold: !e.hold})), ' ',
			button('now', 'Now', 'Attempt delivery now', () => call('QueueNextAttemptSet', {ids: [e.id], minutes: 0})), ' ',
			button('drop', 'Drop', 'Remove without delivery or DSN', () => call('QueueDrop', {ids: [e.id]})), ' ',
			button('fail', 'Fail', 'Fail now, with a DSN to the sender', () => call('QueueFail', {ids: [e.id]}))))));
	if (!r.queue.length) $('#queue tbody').append(el('tr', {}, el('td', {colspan: 11, class: 'muted'}, 'Queue is empty.')));
}

function renderHoldRules(r) {
	$('#holdrules tbody').replaceChildren(...r.rules.map((h) => el('tr', {'data-rule': h.ID},
		el('td', {}, h.ID), el('td', {}, h.Account || '(any)'), el('td', {}, h.SenderDomainStr || '(any)'), el('td', {}, h.RecipientDomainStr || '(any)'),
		el('td', {}, el('button', {onclick: act(async () => {
			renderHoldRules(await call('QueueHoldRuleRemove', {id: h.ID}));
			say(`Hold rule ${h.ID} removed; held messages stay held.`, true);
		})}, 'Remove')))));
	if (!r.rules.length) $('#holdrules tbody').append(el('tr', {}, el('td', {colspan: 5, class: 'muted'}, 'No hold rules.')));
}

function renderRetired(r) {
	const fmt = (t) => new Date(t * 1000).toLocaleString();
	$('#retired tbody').replaceChildren(...r.retired.map((m) => el('tr', {'data-id': m.id},
		el('td', {}, m.id), el('td', {}, m.account), el('td', {}, m.mail_from || '<>'), el('td', {}, m.recipient),
		el('td', {class: 'result'}, m.success ? 'success' : 'failure'), el('td', {}, m.attempts),
		el('td', {}, fmt(m.last_activity)), el('td', {}, fmt(m.keep_until)), el('td', {class: 'error'}, m.last_error))));
	if (!r.retired.length) $('#retired tbody').append(el('tr', {}, el('td', {colspan: 9, class: 'muted'}, 'No retired messages.')));
	$('#retired-total').textContent = r.total > r.retired.length ? `(newest ${r.retired.length} of ${r.total})` : '';
}

$('#retired-refresh').addEventListener('click', act(async () => renderRetired(await call('QueueRetired'))));
$('#queue-refresh').addEventListener('click', act(async () => renderQueue(await call('Queue'))));
$('#queue-drop-all').addEventListener('click', act(async () => { if (confirm('Drop all queued messages?')) renderQueue(await call('QueueDrop', {ids: null})); }));
$('#queue-fail-all').addEventListener('click', act(async () => { if (confirm('Fail all queued messages (DSNs are sent)?')) renderQueue(await call('QueueFail', {ids: null})); }));
$('#holdrule-form').addEventListener('submit', act(async () => {
	const rule = {Account: $('#hr-account').value.trim(), SenderDomainStr: $('#hr-sender').value.trim(), RecipientDomainStr: $('#hr-recipient').value.trim()};
	const r = await call('QueueHoldRuleAdd', {rule});
	renderHoldRules(r);
	renderQueue(await call('Queue'));
	$('#holdrule-form').reset();
	say(`Hold rule ${r.rule.ID} added (${r.rule.description}); ${r.held} queued message(s) put on hold.`, true);
}));
