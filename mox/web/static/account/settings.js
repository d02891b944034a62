// mox account page: name, addresses with their delivery rules, junk filter, signature. Loaded
// after account.js (uses its call(), say() and the dom.js helpers).
'use strict';

let accSettings = null;

// The ruleset fields (mox config.Ruleset), in the editor's order: [field, label, kind].
const RULE_FIELDS = [
	['MsgFromRegexp', 'Message From regexp', 'text'],
	['SMTPMailFromRegexp', 'SMTP MAIL FROM regexp', 'text'],
	['VerifiedDomain', 'Verified domain', 'text'],
	['HeadersRegexp', 'Header regexps (one "name: value" per line)', 'headers'],
	['ListAllowDomain', 'List allow domain', 'text'],
	['AcceptRejectsToMailbox', 'Accept rejects to mailbox', 'text'],
	['IsForward', 'Is forward', 'check'],
	['Mailbox', 'Mailbox', 'text'],
	['Comment', 'Comment', 'text'],
];

async function loadSettings() {
	accSettings = await call('Settings');
	$('#export-mailboxes').replaceChildren(...info.mailbox_names.map((n) => el('option', {value: n}, n)));
	$('#full-name').value = accSettings.full_name;
	$('#signature').value = accSettings.settings.signature;
	// Editable only once loaded: a value typed earlier would be overwritten by the load.
	$('#full-name').disabled = false;
	$('#signature').disabled = false;
	renderDestinations();
	renderJunk();
	renderAliases(info.aliases);
	$('#fromid-addresses').value = accSettings.from_id_login_addresses.join('\n');
	$('#fromid-addresses').disabled = false;  // editable once loaded
}

$('#fromid-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		const addresses = $('#fromid-addresses').value.split('\n').map((s) => s.trim()).filter(Boolean);
		const r = await call('FromIDLoginAddressesSave', {addresses});
		$('#fromid-addresses').value = r.from_id_login_addresses.join('\n');
		say('#fromid-msg', 'Saved.', true);
	} catch (e) {
		say('#fromid-msg', e.message, false);
	}
});

// The aliases (lists) the account is a member of, as mox's account page; members only where
// the alias lets members see them.
function renderAliases(aliases) {
	$('#aliases tbody').replaceChildren(...aliases.map((a) => el('tr', {'data-alias': a.address},
		el('td', {}, a.address), el('td', {}, a.subscription_address),
		el('td', {}, a.post_public ? 'Anyone' : 'Members only'), el('td', {class: 'sendas'}, a.allow_msg_from ? 'Yes' : 'No'),
		el('td', {class: 'members'}, a.members ? a.members.join(', ') : el('span', {class: 'muted'}, 'not shown to members')))));
	if (!aliases.length) $('#aliases tbody').append(el('tr', {}, el('td', {colspan: 5, class: 'muted'}, 'None.')));
}

$('#name-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		await call('AccountSaveFullName', {full_name: $('#full-name').value});
		say('#name-msg', 'Name saved.', true);
	} catch (e) { say('#name-msg', e.message, false); }
});

$('#signature-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		const r = await call('SettingsSave', {settings: {...accSettings.settings, signature: $('#signature').value}});
		accSettings.settings = r.settings;
		say('#signature-msg', 'Signature saved.', true);
	} catch (e) { say('#signature-msg', e.message, false); }
});

// Destinations: per address its display name, default mailbox and rulesets.

function ruleEditor(rs) {
	const box = el('fieldset', {class: 'ruleset'});
	for (const [field, label, kind] of RULE_FIELDS) {
		let input;
		if (kind === 'check') input = el('input', {type: 'checkbox', 'data-field': field, checked: !!rs[field]});
		else if (kind === 'headers') input = el('textarea', {rows: 2, 'data-field': field}, Object.entries(rs[field] || {}).map(([k, v]) => `${k}: ${v}`).join('\n'));
		else input = el('input', {'data-field': field, value: rs[field] || ''});
		box.append(el('label', {class: kind === 'check' ? 'inline' : ''}, label + ' ', input));
	}
	box.append(el('button', {type: 'button', class: 'remove', onclick: () => box.remove()}, 'Remove ruleset'));
	return box;
}

function readRuleset(box) {
	const rs = {};
	for (const [field, , kind] of RULE_FIELDS) {
		const input = box.querySelector(`[data-field=${field}]`);
		if (kind === 'check') { if (input.checked) rs[field] = true; continue; }
		if (kind === 'headers') {
			const h = {};
			for (const line of input.value.split('\n')) {
				const i = line.indexOf(':');
				if (i > 0) h[line.slice(0, i).trim()] = line.slice(i + 1).trim();
			}
			if (Object.keys(h).length) rs[field] = h;
			continue;
		}
		if (input.value.trim()) rs[field] = input.value.trim();
	}
	return rs;
}

function renderDestinations() {
	$('#destinations').replaceChildren(...Object.entries(accSettings.destinations).map(([addr, d]) => {
		const rules = el('div', {class: 'rulesets'}, (d.Rulesets || []).map(ruleEditor));
		const msg = el('p', {role: 'status'});
		const form = el('form', {class: 'destination', 'data-address': addr},
			el('h3', {}, addr),
			el('label', {}, 'Display name ', el('input', {'data-field': 'FullName', value: d.FullName || '', placeholder: 'default: the account name'})),
			el('label', {}, 'Default mailbox ', el('input', {'data-field': 'Mailbox', value: d.Mailbox || '', placeholder: 'Inbox'})),
			el('p', {class: 'muted'}, 'Rulesets: the first whose rules all match picks the mailbox (regexps match anywhere; anchor with ^ and $).'),
			rules,
			el('button', {type: 'button', class: 'add-ruleset', onclick: () => rules.append(ruleEditor({}))}, 'Add ruleset'), ' ',
			el('button', {type: 'submit'}, 'Save'), msg);
		form.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const destination = {Rulesets: [...rules.children].map(readRuleset)};
			for (const f of ['FullName', 'Mailbox']) {
				const v = form.querySelector(`input[data-field=${f}]`).value.trim();
				if (v) destination[f] = v;
			}
			try {
				const r = await call('DestinationSave', {address: addr, destination});
				accSettings.destinations[addr] = r.destination;
				msg.textContent = 'Saved.';
				msg.className = 'good';
			} catch (e) { msg.textContent = e.message; msg.className = 'bad'; }
		});
		return form;
	}));
}

// TLS public keys: rename, IMAP preauth (the list is account.js's).
async function updateKey(k, changes) {
	try {
		const r = await call('TLSPubKeyUpdate', {fingerprint: k.fingerprint, ...changes});
		say('#key-msg', `Key ${r.key.name} updated.`, true);
		await loadKeys();
	} catch (e) { say('#key-msg', e.message, false); }
}

// Junk filter.

const JUNK_NUMBERS = ['Threshold', 'MaxPower', 'TopWords', 'IgnoreWords', 'RareWords'];
const JUNK_CHECKS = ['Onegrams', 'Twograms', 'Threegrams', 'Reject'];

function renderJunk() {
	const j = accSettings.junk;
	$('#j-rejects').value = j.RejectsMailbox;
	$('#j-keep-rejects').checked = j.KeepRejects;
	const a = j.AutomaticJunkFlags;
	$('#j-auto').checked = a.Enabled;
	$('#j-junk-re').value = a.JunkMailboxRegexp;
	$('#j-neutral-re').value = a.NeutralMailboxRegexp;
	$('#j-notjunk-re').value = a.NotJunkMailboxRegexp;
	const f = j.JunkFilter;
	$('#j-filter').checked = !!f;
	const dflt = {Threshold: 0.95, MaxPower: 0.01, TopWords: 10, IgnoreWords: 0.1, RareWords: 2, Onegrams: true};
	for (const k of JUNK_NUMBERS) $('#j-' + k).value = (f || dflt)[k];
	for (const k of JUNK_CHECKS) $('#j-' + k).checked = !!(f || dflt)[k];
}

$('#junk-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const junk = {
		RejectsMailbox: $('#j-rejects').value.trim(), KeepRejects: $('#j-keep-rejects').checked,
		AutomaticJunkFlags: {Enabled: $('#j-auto').checked, JunkMailboxRegexp: $('#j-junk-re').value, NeutralMailboxRegexp: $('#j-neutral-re').value, NotJunkMailboxRegexp: $('#j-notjunk-re').value},
		JunkFilter: null,
	};
	if ($('#j-filter').checked) {
		junk.JunkFilter = {};
		for (const k of JUNK_NUMBERS) junk.JunkFilter[k] = Number($('#j-' + k).value);
		for (const k of JUNK_CHECKS) junk.JunkFilter[k] = $('#j-' + k).checked;
	}
	try {
		accSettings.junk = (await call('JunkSettingsSave', {junk})).junk;
		say('#junk-msg', 'Junk settings saved.', true);
	} catch (e) { say('#junk-msg', e.message, false); }
});

$('#junk-retrain').addEventListener('click', async () => {
	try {
		const r = await call('JunkRetrain');
		say('#junk-msg', `Retrained: ${r.trained} of ${r.messages} messages have a junk or not-junk flag.`, true);
	} catch (e) { say('#junk-msg', e.message, false); }
});
