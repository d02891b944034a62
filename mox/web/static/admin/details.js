// mox admin page: an account's details (password, limits) and the config files. Loaded after
// admin.js (uses its call(), say() and act()).
'use strict';

let detailAccount = '';

async function showAccount(name) {
	const a = await call('Account', {account: name});
	detailAccount = name;
	$('#account-details').hidden = false;
	$('#d-name').textContent = a.name;
	$('#d-info').textContent = `${a.full_name ? a.full_name + ', ' : ''}addresses ${a.addresses.join(', ')}; ` +
		`${a.messages} messages in ${a.mailboxes} mailboxes, ${(a.disk_usage / 1048576).toFixed(1)} MB.`;
	$('#d-disabled').value = a.login_disabled;
	$('#d-quota').value = a.quota;
	$('#d-maxmsgs').value = a.max_outgoing_messages_per_day;
	$('#d-maxrcpts').value = a.max_first_time_recipients_per_day;
	$('#account-details').scrollIntoView();
}

$('#password-form').addEventListener('submit', act(async () => {
	await call('SetPassword', {account: detailAccount, password: $('#d-password').value});
	$('#password-form').reset();
	say(`Password of ${detailAccount} changed.`, true);
}));

$('#limits-form').addEventListener('submit', act(async () => {
	await call('SetAccountLimits', {
		account: detailAccount, quota: Number($('#d-quota').value),
		max_outgoing_messages_per_day: Number($('#d-maxmsgs').value), max_first_time_recipients_per_day: Number($('#d-maxrcpts').value),
	});
	await showAccount(detailAccount);
	say(`Limits of ${detailAccount} saved.`, true);
}));

$('#disable-form').addEventListener('submit', act(async () => {
	const message = $('#d-disabled').value.trim();
	await call('AccountDisabled', {account: detailAccount, message});
	await showAccount(detailAccount);
	say(message ? `Logins of ${detailAccount} disabled.` : `Logins of ${detailAccount} enabled.`, true);
}));

// Domains.
function renderDomains(r) {
	$('#domains tbody').replaceChildren(...r.domains.map((d) => el('tr', {'data-domain': d.domain},
		el('td', {}, d.domain), el('td', {}, d.catchall_separators.join(' ')),
		el('td', {}, d.dkim_selectors.map((s) => d.dkim_sign.includes(s) ? s + ' (signs)' : s).join(', ')),
		el('td', {}, d.aliases), el('td', {}, d.addresses.join(', ')),
		el('td', {}, el('button', {onclick: act(async () => {
			if (!confirm(`Remove domain ${d.domain}?`)) return;
			renderDomains(await call('DomainRemove', {domain: d.domain}));
			say(`Domain ${d.domain} removed.`, true);
		})}, 'Remove')))));
}

$('#domain-form').addEventListener('submit', act(async () => {
	const domain = $('#domain-name').value.trim();
	renderDomains(await call('DomainAdd', {domain, account: $('#domain-account').value.trim(), localpart: $('#domain-localpart').value.trim()}));
	renderAccounts(await call('Accounts'));
	$('#domain-form').reset();
	say(`Domain ${domain} added.`, true);
}));

// Aliases.
function renderAliases(r) {
	$('#aliases tbody').replaceChildren(...r.aliases.map((a) => el('tr', {'data-alias': a.address},
		el('td', {}, a.address), el('td', {}, a.Addresses.join(', ')), el('td', {}, a.PostPublic ? 'yes' : 'no'), el('td', {}, a.AllowMsgFrom ? 'yes' : 'no'),
		el('td', {}, el('button', {onclick: act(async () => {
			if (!confirm(`Remove alias ${a.address}?`)) return;
			renderAliases(await call('AliasRemove', {address: a.address}));
			say(`Alias ${a.address} removed.`, true);
		})}, 'Remove')))));
	if (!r.aliases.length) $('#aliases tbody').append(el('tr', {}, el('td', {colspan: 5, class: 'muted'}, 'No aliases.')));
}

$('#alias-form').addEventListener('submit', act(async () => {
	const address = $('#alias-address').value.trim();
	const alias = {
		Addresses: $('#alias-members').value.split(',').map((s) => s.trim()).filter(Boolean),
		PostPublic: $('#alias-public').checked, AllowMsgFrom: $('#alias-msgfrom').checked, ListMembers: $('#alias-list').checked,
	};
	renderAliases(await call('AliasSave', {address, alias}));
	$('#alias-form').reset();
	say(`Alias ${address} saved.`, true);
}));

$('#config-show').addEventListener('click', act(async () => {
	const r = await call('Config');
	$('#config-files').replaceChildren(...Object.entries(r.files).map(([name, text]) => el('div', {'data-file': name}, el('h3', {}, name), el('pre', {}, text))));
}));

// The log lines of one connection (mox cid): the id from a Received header or a log line.
$('#cid-form').addEventListener('submit', act(async () => {
	const r = await call('LookupCid', {cid: $('#cid').value});
	$('#cid-lines').textContent = r.lines.length ? r.lines.join('\n') : `No log lines kept for connection ${r.cid}.`;
	$('#cid-lines').dataset.cid = r.cid;
}));
