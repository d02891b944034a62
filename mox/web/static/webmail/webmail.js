// mox webmail: plain JavaScript, no build step. Talks to /webmail/api/<Method> (JSON, CSRF header)
// and gets live updates over the WebSocket /webmail/ws.
'use strict';

// $ and el come from /static/common/dom.js, APIError, apiAnswer and apiCaller from
// /static/common/api.js, pageLogin from /static/common/login.js.

const PAGE = 50;
const state = {
	csrf: '', address: '', account: '',
	mailboxes: [], mailbox: null,   // current mailbox object (null while searching all)
	query: '', offset: 0, total: 0, messages: [],
	threading: localStorage.getItem('threading') || 'off',  // mox's thread modes: off, on, unread
	rows: [],                        // the visible rows: {m, depth, count, children}
	cursor: -1,                      // index of the highlighted row
	open: null,                      // {summary, ...} of the opened message
	showHTML: false, external: false,
	ws: null, wsRetry: 0, reloadTimer: 0, gPrefix: false,
	loadSeq: 0,                      // the latest message list request (loadMessages)
};

const sessionEnded = () => session.showLogin('Session expired, log in again.');
const call = apiCaller('/webmail/api/', () => state.csrf, sessionEnded);
const answer = (r) => apiAnswer(r, sessionEnded);

function toast(text) {
	const t = $('#toast');
	t.textContent = text;
	t.hidden = false;
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => { t.hidden = true; }, 3000);
}

async function guard(fn) {
	try { return await fn(); } catch (e) { toast(e.message || String(e)); console.error(e); }
}

// Login and session.

async function start(sess) {
	state.csrf = sess.csrf;
	state.address = sess.address || '';
	state.account = sess.account || '';
	$('#whoami').textContent = state.address;
	await loadMailboxes();
	await loadSettings();
	const inbox = state.mailboxes.find((m) => m.name === 'Inbox') || state.mailboxes[0];
	await selectMailbox(inbox);
	connectLive();
}

// Logged out or the session ended: no live updates, no session.
const session = pageLogin('/webmail', (sess) => guard(() => start(sess)), () => {
	if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
	state.csrf = '';
});

$('#logout').addEventListener('click', () => guard(async () => {
	const csrf = state.csrf;
	closeMessage();
	await session.logout(csrf);
}));

// Mailboxes.

async function loadMailboxes() {
	const r = await call('Mailboxes');
	setMailboxes(r.mailboxes);
}

function setMailboxes(list) {
	state.mailboxes = list;
	if (state.mailbox) state.mailbox = list.find((m) => m.id === state.mailbox.id) || null;
	renderMailboxes();
}

function renderMailboxes() {
	const ul = $('#mailboxes');
	ul.replaceChildren(...state.mailboxes.map((mb) => {
		const depth = mb.name.split('/').length - 1;
		return el('li', {
			'data-name': mb.name, 'data-id': mb.id, class: state.mailbox?.id === mb.id ? 'sel' : '',
			style: depth ? `padding-left:${12 + depth * 12}px` : null,
			title: `${mb.name}${mb.special_use ? ' (' + mb.special_use.slice(1) + ')' : ''}: ${mb.total} message${mb.total === 1 ? '' : 's'}, ${mb.unread} unread, ${fmtSize(mb.size)}`,
			onclick: () => guard(() => selectMailbox(mb)),
		}, el('span', {class: 'name'}, mb.name.split('/').pop()), el('span', {class: 'count'}, mb.unread ? String(mb.unread) : ''));
	}));
	const sel = $('#move-to');
	sel.replaceChildren(el('option', {value: ''}, 'Move to…'), ...state.mailboxes.map((mb) => el('option', {value: mb.name}, mb.name)));
	const unread = state.mailboxes.find((m) => m.name === 'Inbox')?.unread || 0;
	document.title = (unread ? `(${unread}) ` : '') + 'mox webmail';
}

async function selectMailbox(mb) {
	state.mailbox = mb;
	state.query = '';
	$('#search').value = '';
	state.offset = 0;
	state.cursor = -1;
	closeMessage();
	renderMailboxes();
	await loadMessages();
}

$('#mb-create').addEventListener('click', () => guard(async () => {
	const name = prompt('Name of the new mailbox (use / for a submailbox):');
	if (!name) return;
	await call('MailboxCreate', {name});
	await loadMailboxes();
}));
$('#mb-rename').addEventListener('click', () => guard(async () => {
	if (!state.mailbox) return;
	const name = prompt(`New name for ${state.mailbox.name}:`, state.mailbox.name);
	if (!name || name === state.mailbox.name) return;
	await call('MailboxRename', {name: state.mailbox.name, new: name});
	await loadMailboxes();
	renderMailboxes();
}));
$('#mb-delete').addEventListener('click', () => guard(async () => {
	if (!state.mailbox) return;
	const subs = state.mailboxes.filter((m) => m.name.startsWith(state.mailbox.name + '/')).length;
	if (!confirm(`Delete mailbox ${state.mailbox.name}` + (subs ? ` and its ${subs} submailbox(es)` : '') + ', with all messages?')) return;
	await call('MailboxDelete', {name: state.mailbox.name});
	await loadMailboxes();
	await selectMailbox(state.mailboxes.find((m) => m.name === 'Inbox'));
}));
$('#mb-empty').addEventListener('click', () => guard(async () => {
	if (!state.mailbox) return;
	if (!confirm(`Remove all ${state.mailbox.total} messages of ${state.mailbox.name} for good?`)) return;
	const r = await call('MailboxEmpty', {mailbox: state.mailbox.id});
	toast(`Removed ${r.removed} message(s).`);
	await loadMailboxes();
	await loadMessages();
}));
$('#mb-special').addEventListener('change', (ev) => guard(async () => {
	const use = ev.target.value;
	ev.target.value = '-';
	if (!state.mailbox || use === '-') return;
	await call('MailboxSetSpecialUse', {mailbox: state.mailbox.id, special_use: use});
	await loadMailboxes();
	toast(use ? `${state.mailbox.name} is now the ${use.slice(1)} mailbox.` : `${state.mailbox.name} has no special use now.`);
}));

// Message list.

// Only the answer to the latest request is shown: an earlier one still under way (a reload after
// a live change, say) must not put its rows under a newer search's title.
async function loadMessages() {
	const req = {offset: state.offset, limit: PAGE, query: state.query, mailbox: state.query && !state.mailbox ? null : state.mailbox?.id, threading: state.threading};
	const seq = ++state.loadSeq;
	const r = await call('Messages', req);
	if (seq !== state.loadSeq) return;
	state.messages = r.messages;
	state.total = r.total;
	renderMessages();
	if (state.cursor >= state.rows.length) { state.cursor = state.rows.length - 1; renderMessages(); }
}

function fmtDate(t) {
	const d = new Date(t * 1000), now = new Date();
	if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
	if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString([], {month: 'short', day: 'numeric'});
	return d.toLocaleDateString();
}

const fmtAddr = (a) => a.name ? `${a.name} <${a.address}>` : a.address;
const shortAddr = (a) => a.name || a.address;

// The rows to show. Threaded, the messages of a thread come together (ascending id); each is
// placed under its closest parent that is in the list, and a collapsed thread root hides the
// messages below it (with "unread" threading: collapsed unless it has unread messages).
function buildRows() {
	if (state.threading === 'off') return state.messages.map((m) => ({m, depth: 0, count: 0, children: 0}));
	const rows = [];
	let i = 0;
	while (i < state.messages.length) {
		const tid = state.messages[i].thread_id;
		const group = [];
		while (i < state.messages.length && state.messages[i].thread_id === tid && (tid || !group.length)) group.push(state.messages[i++]);
		const ids = new Set(group.map((m) => m.id));
		const kids = new Map();
		const roots = [];
		for (const m of group) {
			const parent = m.thread_parent_ids.find((id) => ids.has(id));
			if (parent === undefined) roots.push(m);
			else kids.set(parent, [...(kids.get(parent) || []), m]);
		}
		const size = (m) => 1 + (kids.get(m.id) || []).reduce((n, c) => n + size(c), 0);
		const unread = (m) => !m.flags.includes('\\Seen') || (kids.get(m.id) || []).some(unread);
		const visit = (m, depth, hidden) => {
			if (!hidden) rows.push({m, depth, count: depth ? 0 : size(m), children: (kids.get(m.id) || []).length});
			const collapsed = state.threading === 'unread' ? !unread(m) : m.thread_collapsed;
			for (const c of kids.get(m.id) || []) visit(c, depth + 1, hidden || (depth === 0 && collapsed));
		};
		roots.forEach((m) => visit(m, 0, false));
	}
	return rows;
}

const ATTACHMENT_ICONS = {image: '🖼', pdf: '📄', archive: '🗜', spreadsheet: '📊', document: '📝', presentation: '📽'};

function flagCell(m) {
	const icons = [];
	if (m.flags.includes('\\Flagged')) icons.push(el('span', {class: 'star', title: 'flagged'}, '★'));
	if (m.attachments) {
		const kinds = m.attachment_types.length ? m.attachment_types : [''];
		for (const k of kinds) icons.push(el('span', {class: 'att', 'data-kind': k || 'other', title: (k || 'other') + ' attachment'}, ATTACHMENT_ICONS[k] || '📎'));
	}
	return el('td', {class: 'flag'}, icons);
}

function renderMessages() {
	const sent = state.mailbox && ['\\Sent', '\\Drafts'].includes(state.mailbox.special_use);
	state.rows = buildRows();
	const tbody = $('#messages tbody');
	tbody.replaceChildren(...state.rows.map((row, i) => {
		const m = row.m;
		const unread = !m.flags.includes('\\Seen');
		const cls = [unread ? 'unread' : '', i === state.cursor ? 'sel' : '', m.thread_muted ? 'muted' : '', m.match === false ? 'other' : ''].join(' ').trim();
		const who = sent ? 'To: ' + m.to.map(shortAddr).join(', ') : m.from.map(shortAddr).join(', ');
		const subject = el('td', {class: 'subject', style: row.depth ? `padding-left:${6 + row.depth * 14}px` : null});
		if (row.children && !row.depth) {
			const open = state.threading === 'unread' ? null : !m.thread_collapsed;
			subject.append(el('button', {class: 'toggle', title: open === false ? 'Expand thread' : 'Collapse thread', 'aria-expanded': open === false ? 'false' : 'true',
				onclick: (ev) => { ev.stopPropagation(); guard(() => threadCollapse(m, open !== false)); }}, open === false ? '▸' : '▾'));
		}
		if (m.thread_muted && !row.depth) subject.append(el('span', {class: 'mute', title: 'muted thread'}, '🔇'));
		subject.append(el('span', {class: 'subj'}, m.subject || '(no subject)'));
		if (row.count > 1) subject.append(el('span', {class: 'count', title: 'messages in thread'}, String(row.count)));
		if (m.match === false) subject.append(el('span', {class: 'mbname'}, state.mailboxes.find((b) => b.id === m.mailbox)?.name || ''));
		if (m.preview) subject.append(el('span', {class: 'preview'}, m.preview.replace(/\s+/g, ' ')));
		return el('tr', {'data-uid': m.uid, 'data-mailbox': m.mailbox, 'data-id': m.id, 'data-depth': row.depth, class: cls,
			onclick: () => { state.cursor = i; guard(() => openMessage(m)); }},
			flagCell(m),
			el('td', {class: 'from', title: (sent ? m.to : m.from).map(fmtAddr).join(', ')}, who),
			subject,
			el('td', {class: 'date', title: new Date(m.received * 1000).toString()}, fmtDate(m.received)));
	}));
	$('#empty').hidden = state.messages.length > 0;
	const title = state.query ? `Search: ${state.query}` + (state.mailbox ? ` in ${state.mailbox.name}` : '') : (state.mailbox?.name || '');
	$('#listtitle').textContent = title;
	const shown = state.threading === 'off' ? state.messages.length : new Set(state.messages.map((m) => m.thread_id || -m.id)).size;
	const end = Math.min(state.offset + shown, state.total);
	$('#range').textContent = state.total ? `${state.offset + 1}–${end} of ${state.total}` + (state.threading === 'off' ? '' : ' threads') : '0';
	$('#prev').disabled = state.offset === 0;
	$('#next').disabled = end >= state.total;
	$('#btn-threading').textContent = 'Threads: ' + state.threading;
}

// Threads.

async function threadCollapse(m, collapse) {
	const root = threadRoot(m);
	await call('ThreadCollapse', {message_ids: [root.id], collapse});
	await loadMessages();
}

async function threadMute(m, mute) {
	await call('ThreadMute', {message_ids: [threadRoot(m).id], mute});
	if (state.open && state.open.summary.id === m.id) state.open.summary.thread_muted = mute;
	$('#btn-mute').textContent = mute ? 'Unmute thread' : 'Mute thread';
	toast(mute ? 'Thread muted.' : 'Thread unmuted.');
	await loadMessages();
}

// The first message of m's thread in the list (m itself when alone).
function threadRoot(m) {
	return state.messages.find((x) => x.thread_id && x.thread_id === m.thread_id && !x.thread_parent_ids.some((id) => state.messages.some((y) => y.id === id))) || m;
}

$('#btn-threading').addEventListener('click', () => {
	const modes = ['off', 'on', 'unread'];
	state.threading = modes[(modes.indexOf(state.threading) + 1) % modes.length];
	localStorage.setItem('threading', state.threading);
	state.offset = 0;
	state.cursor = -1;
	guard(loadMessages);
});
$('#btn-mute').addEventListener('click', () => guard(() => { const m = current(); if (m) return threadMute(m, !m.thread_muted); }));

$('#prev').addEventListener('click', () => page(-1));
$('#next').addEventListener('click', () => page(1));
function page(dir) {
	const off = state.offset + dir * PAGE;
	if (off < 0 || off >= state.total) return;
	state.offset = off;
	state.cursor = -1;
	guard(loadMessages);
}

$('#search-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	state.query = $('#search').value.trim();
	state.offset = 0;
	state.cursor = -1;
	if (state.query && state.mailbox && !state.query.includes('in:')) state.mailbox = null;  // search all mailboxes
	if (!state.query && !state.mailbox) state.mailbox = state.mailboxes.find((m) => m.name === 'Inbox');
	closeMessage();
	renderMailboxes();
	guard(loadMessages);
});

// Message view.

function closeMessage() {
	state.open = null;
	$('#msgview').hidden = true;
	$('#msgframe').removeAttribute('src');
}

async function openMessage(m) {
	const drafts = state.mailboxes.find((b) => b.special_use === '\\Drafts');
	if (drafts && m.mailbox === drafts.id && m.flags.includes('\\Draft')) {
		const draft = await call('Message', {mailbox: m.mailbox, uid: m.uid, mark_read: false});
		compose('', draft, await draftReference(draft));
		return;
	}
	const r = await call('Message', {mailbox: m.mailbox, uid: m.uid});
	state.open = r;
	state.showHTML = r.html && (!r.has_text || state.settings.show_html);  // text preferred unless the settings say HTML
	state.external = false;
	const s = r.summary;
	const i = state.messages.findIndex((x) => x.mailbox === s.mailbox && x.uid === s.uid);
	if (i >= 0) state.messages[i] = {...state.messages[i], ...s, preview: state.messages[i].preview, match: state.messages[i].match};
	renderMessages();
	const ri = state.rows.findIndex((x) => x.m.mailbox === s.mailbox && x.m.uid === s.uid);
	if (ri >= 0 && ri !== state.cursor) { state.cursor = ri; renderMessages(); }
	$('#msgview').hidden = false;
	$('#msg-subject').textContent = s.subject || '(no subject)';
	$('#msg-from').textContent = s.from.map(fmtAddr).join(', ');
	$('#msg-to').textContent = s.to.map(fmtAddr).join(', ');
	$('#msg-cc').textContent = s.cc.map(fmtAddr).join(', ');
	$('#msg-cc-row').hidden = !s.cc.length;
	$('#msg-date').textContent = s.date || new Date(s.received * 1000).toLocaleString();
	$('#attachments').replaceChildren(...r.attachments.map((a) => el('li', {},
		el('a', {href: `/webmail/part/${s.mailbox}/${s.uid}/${a.index}`, download: a.filename}, `${a.filename} (${a.content_type}, ${fmtSize(a.size)})`))));
	$('#msg-headers').textContent = r.headers.map(([k, v]) => `${k}: ${v}`).join('\n');
	$('#msg-headers').hidden = true;
	$('#btn-raw').href = `/webmail/msg/${s.mailbox}/${s.uid}/raw`;
	$('#btn-transcript').href = `/webmail/ci/${s.mailbox}/${s.uid}/transcript`;
	$('#btn-lint').href = `/webmail/ci/${s.mailbox}/${s.uid}/lint`;
	$('#btn-flag').textContent = s.flags.includes('\\Flagged') ? 'Unflag' : 'Flag';
	$('#btn-mute').textContent = s.thread_muted ? 'Unmute thread' : 'Mute thread';
	renderBody();
}

function fmtSize(n) {
	return n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KB' : (n / 1048576).toFixed(1) + ' MB';
}

function renderBody() {
	const r = state.open;
	if (!r) return;
	const s = r.summary;
	const view = state.showHTML ? (state.external ? 'htmlexternal' : 'html') : 'text';
	$('#msgframe').src = `/webmail/msg/${s.mailbox}/${s.uid}/${view}`;
	$('#btn-html').hidden = !r.html;
	$('#btn-html').textContent = state.showHTML ? 'Show text' : 'Show HTML';
	$('#btn-external').hidden = !(r.html && state.showHTML && !state.external);
}

$('#btn-html').addEventListener('click', () => { state.showHTML = !state.showHTML; state.external = false; renderBody(); });
$('#btn-external').addEventListener('click', () => { state.external = true; renderBody(); });
$('#btn-headers').addEventListener('click', () => { $('#msg-headers').hidden = !$('#msg-headers').hidden; });

const current = () => state.open?.summary || state.rows[state.cursor]?.m;

async function flagOp(add, flags, m) {
	m = m || current();
	if (!m) return;
	await call(add ? 'FlagsAdd' : 'FlagsRemove', {mailbox: m.mailbox, uids: [m.uid], flags});
	const upd = (x) => { if (x.mailbox === m.mailbox && x.uid === m.uid) x.flags = add ? [...new Set([...x.flags, ...flags])] : x.flags.filter((f) => !flags.includes(f)); };
	state.messages.forEach(upd);
	if (state.open) { upd(state.open.summary); $('#btn-flag').textContent = state.open.summary.flags.includes('\\Flagged') ? 'Unflag' : 'Flag'; }
	renderMessages();
}

async function moveTo(name, m) {
	m = m || current();
	if (!m) return;
	await call('Move', {mailbox: m.mailbox, uids: [m.uid], to: name});
	toast(`Moved to ${name}.`);
	afterRemove(m);
}

async function del(m) {
	m = m || current();
	if (!m) return;
	await call('Delete', {mailbox: m.mailbox, uids: [m.uid]});
	toast('Deleted.');
	afterRemove(m);
}

function afterRemove(m) {
	if (state.open && state.open.summary.uid === m.uid && state.open.summary.mailbox === m.mailbox) closeMessage();
	state.messages = state.messages.filter((x) => !(x.mailbox === m.mailbox && x.uid === m.uid));
	renderMessages();
	scheduleReload();
}

$('#btn-archive').addEventListener('click', () => guard(() => moveTo(specialName('\\Archive', 'Archive'))));
$('#btn-delete').addEventListener('click', () => guard(() => del()));
$('#btn-flag').addEventListener('click', () => guard(() => flagOp(!current()?.flags.includes('\\Flagged'), ['\\Flagged'])));
$('#btn-unread').addEventListener('click', () => guard(async () => { const m = current(); await flagOp(false, ['\\Seen'], m); closeMessage(); }));
$('#move-to').addEventListener('change', (ev) => { const v = ev.target.value; ev.target.value = ''; if (v) guard(() => moveTo(v)); });

function specialName(use, dflt) {
	return state.mailboxes.find((m) => m.special_use === use)?.name || dflt;
}

// Compose, reply, forward.

function quote(text) {
	return text.replace(/\s+$/, '').split('\n').map((l) => '> ' + l).join('\n');
}

// Settings (mox SettingsSave) and the From addresses.

async function loadSettings() {
	const r = await call('Settings');
	state.settings = r.settings;
	state.fromAddresses = r.addresses;
	$('#c-from').replaceChildren(...r.addresses.map((a) => el('option', {value: a.address},
		(a.name ? `${a.name} <${a.address}>` : a.address) + (a.alias ? ' (alias)' : ''))));
}

const signature = () => state.settings?.signature ? '\n\n-- \n' + state.settings.signature.replace(/\s+$/, '') + '\n' : '';

$('#btn-settings').addEventListener('click', () => {
	$('#s-signature').value = state.settings.signature;
	$('#s-quoting').value = state.settings.quoting;
	$('#s-show-html').checked = state.settings.show_html;
	$('#settings-error').textContent = '';
	$('#settings').showModal();
});
$('#s-cancel').addEventListener('click', () => $('#settings').close());
$('#settings-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	guard(async () => {
		const settings = {...state.settings, signature: $('#s-signature').value, quoting: $('#s-quoting').value, show_html: $('#s-show-html').checked};
		try {
			state.settings = (await call('SettingsSave', {settings})).settings;
			$('#settings').close();
			toast('Settings saved.');
		} catch (e) {
			$('#settings-error').textContent = e.message;
		}
	});
});

// Recipient completion (mox CompleteRecipient): suggestions for the address being typed.
async function completeRecipient(input) {
	const parts = input.value.split(',');
	const word = parts[parts.length - 1].trim();
	if (word.length < 2) return;
	const r = await call('CompleteRecipient', {search: word});
	const prefix = parts.slice(0, -1).map((p) => p.trim()).filter(Boolean).join(', ');
	$('#c-complete').replaceChildren(...r.addresses.map((a) => el('option', {value: prefix ? prefix + ', ' + a : a})));
}
for (const id of ['#c-to', '#c-cc', '#c-bcc']) {
	$(id).addEventListener('input', (ev) => { clearTimeout(state.completeTimer); state.completeTimer = setTimeout(() => guard(() => completeRecipient(ev.target)), 150); });
}

// The message a saved draft replies to or forwards (its In-Reply-To, as mox's webmail finds it
// with MessageFindMessageID), opened without marking it read; null when there is none (any more).
async function draftReference(draft) {
	const irt = draft.headers.find(([k]) => k.toLowerCase() === 'in-reply-to')?.[1];
	if (!irt) return null;
	let found;
	try {
		found = await call('MessageFindMessageID', {message_id: irt});
	} catch (e) {
		if (e instanceof APIError && e.code === 'user:badRequest') return null;  // not a Message-ID: opens as is
		throw e;
	}
	if (!found.id) return null;
	return call('Message', {mailbox: found.mailbox, uid: found.uid, mark_read: false});
}

// mode: '', 'reply', 'replyall' or 'forward' (of the opened message); draft: a reopened draft
// (Message answer), with ref: the message it replies to or forwards (draftReference).
function compose(mode, draft, ref) {
	const f = $('#compose-form');
	f.reset();
	clearTimeout(state.draftTimer);
	state.draftDirty = false;
	$('#compose-error').textContent = '';
	$('#c-mode').value = mode || '';
	$('#c-draft-id').value = '';
	$('#draft-status').textContent = '';
	if (draft && ref) {
		// A draft keeps its place: a forward as mox tells it, by its subject.
		const subj = draft.summary.subject || '';
		mode = /^\[?fwd?:/i.test(subj) || /\(fwd\)[ \t]*$/i.test(subj) ? 'forward' : 'reply';
	}
	const r = draft ? ref : state.open;
	// Replying to or forwarding an HTML message: its HTML is quoted in an HTML version too.
	$('#c-quote-html-label').hidden = !(mode && r && r.html);
	$('#c-quote-html').checked = !$('#c-quote-html-label').hidden;
	if (draft) {
		// A reopened draft: its fields as saved, and the message it replies to or forwards (so
		// that it goes out in that thread, with the quote); sending it removes it.
		const s = draft.summary;
		const bcc = draft.headers.find(([k]) => k.toLowerCase() === 'bcc')?.[1] || '';
		$('#c-to').value = s.to.map(fmtAddr).join(', ');
		$('#c-cc').value = s.cc.map(fmtAddr).join(', ');
		$('#c-bcc').value = bcc;
		$('#c-subject').value = s.subject;
		$('#c-body').value = draft.text.replace(/\n$/, '');
		const from = s.from[0]?.address.toLowerCase();
		const own = state.fromAddresses.find((a) => a.address.toLowerCase() === from);
		if (own) $('#c-from').value = own.address;  // e.g. an alias the reply was written from
		$('#c-draft-id').value = s.id;
		$('#c-ref-mailbox').value = r ? r.summary.mailbox : '';
		$('#c-ref-uid').value = r ? r.summary.uid : '';
		$('#c-mode').value = r ? mode : '';
		$('#draft-status').textContent = 'Draft.';
	} else if (mode && r) {
		const s = r.summary;
		$('#c-ref-mailbox').value = s.mailbox;
		$('#c-ref-uid').value = s.uid;
		const subj = s.subject || '';
		if (mode === 'forward') {
			$('#c-subject').value = /^fwd?:/i.test(subj) ? subj : 'Fwd: ' + subj;
			$('#c-body').value = `\n\n---------- Forwarded message ----------\nFrom: ${s.from.map(fmtAddr).join(', ')}\nSubject: ${subj}\n\n${r.text}`;
		} else {
			const replyTo = r.headers.find(([k]) => k.toLowerCase() === 'reply-to')?.[1];
			$('#c-to').value = replyTo || s.from.map(fmtAddr).join(', ');
			if (mode === 'replyall') {
				const me = state.address.toLowerCase();
				$('#c-cc').value = [...s.to, ...s.cc].filter((a) => a.address.toLowerCase() !== me).map(fmtAddr).join(', ');
			}
			$('#c-mode').value = 'reply';
			$('#c-subject').value = /^re:/i.test(subj) ? subj : 'Re: ' + subj;
			const who = s.from.map(shortAddr).join(', ');
			$('#c-body').value = `\n\nOn ${s.date || new Date(s.received * 1000).toLocaleString()}, ${who} wrote:\n${quote(r.text)}\n`;
		}
	} else {
		$('#c-ref-mailbox').value = '';
		$('#c-ref-uid').value = '';
	}
	if (!draft) {
		const me = state.address.toLowerCase();
		const to = r && mode ? [...r.summary.to, ...r.summary.cc].map((a) => a.address.toLowerCase()) : [];
		const own = state.fromAddresses.find((a) => to.includes(a.address.toLowerCase()));  // reply from the address written to
		$('#c-from').value = mode && own ? own.address : (state.fromAddresses.find((a) => a.address.toLowerCase() === me)?.address || state.fromAddresses[0]?.address || '');
		const body = $('#c-body').value;
		if (mode && mode !== 'forward' && state.settings.quoting === 'top') {
			$('#c-body').value = (signature() || '\n') + '\n' + body.replace(/^\n\n/, '');
		} else if (mode && mode !== 'forward') {
			$('#c-body').value = body.replace(/^\n\n/, '') + '\n' + signature();
		} else {
			$('#c-body').value = (body ? '' : '') + signature() + body;
		}
	}
	$('#compose-title').textContent = draft ? 'Draft' : ({reply: 'Reply', replyall: 'Reply all', forward: 'Forward'}[mode] || 'New message');
	$('#compose').showModal();
	const b = $('#c-body');
	if (draft) {
		b.focus();
		b.setSelectionRange(b.value.length, b.value.length);  // writing goes on where it ended
	} else if (mode && mode !== 'forward') {
		// The cursor where the reply goes: above the quote (top), else below it.
		b.focus();
		const at = state.settings.quoting === 'top' ? 0 : b.value.length - signature().length;
		b.setSelectionRange(at, at);
	} else {
		$('#c-to').focus();
	}
}

// Drafts: saved to the Drafts mailbox while typing (mox MessageCompose), a second after the last
// change; each save replaces the previous draft. Saves run one at a time.
const DRAFT_DELAY = 1000;
state.draftSaving = Promise.resolve();

function draftFields() {
	const f = new FormData($('#compose-form'));
	const obj = {};
	for (const k of ['from', 'to', 'cc', 'bcc', 'subject', 'body', 'mode', 'ref_mailbox', 'ref_uid']) obj[k] = f.get(k) || '';
	return obj;
}

function saveDraft() {
	clearTimeout(state.draftTimer);
	if (!state.draftDirty) return state.draftSaving;
	state.draftDirty = false;
	state.draftSaving = state.draftSaving.then(async () => {
		const obj = {...draftFields(), draft_id: Number($('#c-draft-id').value) || 0};
		try {
			const r = await call('MessageCompose', obj);
			$('#c-draft-id').value = r.id;
			$('#draft-status').textContent = 'Draft saved ' + new Date().toLocaleTimeString() + '.';
		} catch (e) {
			$('#draft-status').textContent = 'Saving draft failed: ' + e.message;
		}
	});
	return state.draftSaving;
}

$('#compose-form').addEventListener('input', (ev) => {
	if (ev.target.type === 'file') return;
	state.draftDirty = true;
	clearTimeout(state.draftTimer);
	state.draftTimer = setTimeout(saveDraft, DRAFT_DELAY);
});

$('#btn-compose').addEventListener('click', () => compose(''));
$('#btn-reply').addEventListener('click', () => compose('reply'));
$('#btn-replyall').addEventListener('click', () => compose('replyall'));
$('#btn-forward').addEventListener('click', () => compose('forward'));
$('#c-cancel').addEventListener('click', () => guard(async () => { await saveDraft(); $('#compose').close(); }));
$('#compose').addEventListener('close', () => guard(saveDraft));  // also Escape

$('#compose-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	guard(async () => {
		$('#c-send').disabled = true;
		clearTimeout(state.draftTimer);
		state.draftDirty = false;
		try {
			const at = $('#c-send-at-local').value;
			$('#c-send-at').value = at ? String(new Date(at).getTime() / 1000) : '';
			await state.draftSaving;  // the draft id of the last save goes with the message
			const r = await fetch('/webmail/api/Submit', {method: 'POST', headers: {'x-mox-csrf': state.csrf}, body: new FormData($('#compose-form'))});
			const res = await answer(r);
			$('#compose').close();
			toast(res.send_at ? 'Message scheduled for ' + new Date(res.send_at * 1000).toLocaleString() + '.' : 'Message sent.');
		} catch (e) {
			$('#compose-error').textContent = e.message;
		} finally {
			$('#c-send').disabled = false;
		}
	});
});

// Live updates.

function connectLive() {
	const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
	const ws = new WebSocket(`${proto}//${location.host}/webmail/ws?csrf=${encodeURIComponent(state.csrf)}`);
	state.ws = ws;
	ws.onopen = () => { state.wsRetry = 0; $('#live').textContent = 'live'; $('#live').classList.add('on'); };
	ws.onmessage = (ev) => {
		const msg = JSON.parse(ev.data);
		if (msg.type === 'error') { ws.onclose = null; if (msg.code === 'user:noAuth') sessionEnded(); return; }
		if (msg.mailboxes) setMailboxes(msg.mailboxes);
		if (msg.type === 'changes') onChanges(msg.changes);
	};
	ws.onclose = () => {
		$('#live').textContent = 'offline';
		$('#live').classList.remove('on');
		if (state.ws !== ws || !state.csrf) return;
		const delay = Math.min(30000, 1000 * 2 ** state.wsRetry++);
		setTimeout(() => { if (state.ws === ws && state.csrf) { connectLive(); scheduleReload(); } }, delay);
	};
}

function onChanges(changes) {
	let reload = false;
	for (const c of changes) {
		const mbid = c.mailbox_id ?? c.mailbox?.id;
		if (state.query || mbid === undefined || mbid === state.mailbox?.id) reload = true;
		if (c.kind === 'ChangeRemoveUIDs' && state.open && state.open.summary.mailbox === c.mailbox_id && c.uids.includes(state.open.summary.uid)) closeMessage();
		if (c.kind === 'ChangeAddUID' && c.summary && c.mailbox_id === state.mailboxes.find((m) => m.name === 'Inbox')?.id && !c.summary.flags.includes('\\Seen')) {
			toast('New message: ' + (c.summary.subject || '(no subject)'));
		}
	}
	if (reload) scheduleReload();
}

function scheduleReload() {
	clearTimeout(state.reloadTimer);
	state.reloadTimer = setTimeout(() => guard(loadMessages), 50);
}

// Keyboard shortcuts.

function move(delta) {
	if (!state.rows.length) return;
	state.cursor = Math.max(0, Math.min(state.rows.length - 1, state.cursor + delta));
	renderMessages();
	const m = state.rows[state.cursor].m;
	if (state.open) guard(() => openMessage(m));
	$('#messages tbody').children[state.cursor]?.scrollIntoView({block: 'nearest'});
}

document.addEventListener('keydown', (ev) => {
	if ($('#app').hidden || ev.ctrlKey || ev.metaKey || ev.altKey) return;
	if (document.querySelector('dialog[open]')) return;
	const t = ev.target;
	if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) {
		if (ev.key === 'Escape') t.blur();
		return;
	}
	const go = (name) => { const mb = state.mailboxes.find((m) => m.name === name || m.special_use === '\\' + name); if (mb) guard(() => selectMailbox(mb)); };
	if (state.gPrefix) {
		state.gPrefix = false;
		({i: () => go('Inbox'), s: () => go('Sent'), a: () => go('Archive'), d: () => go('Drafts'), t: () => go('Trash')})[ev.key]?.();
		return;
	}
	const m = current();
	const actions = {
		j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
		Enter: () => m && guard(() => openMessage(m)), o: () => m && guard(() => openMessage(m)),
		c: () => compose(''), r: () => state.open && compose('reply'), R: () => state.open && compose('replyall'),
		f: () => state.open && compose('forward'),
		a: () => m && guard(() => moveTo(specialName('\\Archive', 'Archive'), m)),
		d: () => m && guard(() => del(m)), Delete: () => m && guard(() => del(m)),
		s: () => m && guard(() => flagOp(!m.flags.includes('\\Flagged'), ['\\Flagged'], m)),
		u: () => m && guard(() => flagOp(!m.flags.includes('\\Seen'), ['\\Seen'], m)),
		h: () => { if (state.open) $('#msg-headers').hidden = !$('#msg-headers').hidden; },
		m: () => { if (state.open) $('#move-to').focus(); },
		'/': () => $('#search').focus(), '?': () => $('#help').showModal(),
		n: () => page(1), p: () => page(-1), g: () => { state.gPrefix = true; },
		ArrowLeft: () => m && state.threading === 'on' && guard(() => threadCollapse(m, true)),
		ArrowRight: () => m && state.threading === 'on' && guard(() => threadCollapse(m, false)),
		M: () => m && guard(() => threadMute(m, !m.thread_muted)),
		T: () => $('#btn-threading').click(),
		Escape: () => closeMessage(),
	};
	const fn = actions[ev.key];
	if (fn) { ev.preventDefault(); fn(); }
});
$('#btn-help').addEventListener('click', () => $('#help').showModal());

// Start: resume the session after a reload, else show the login form.
document.addEventListener('DOMContentLoaded', () => session.resume());
