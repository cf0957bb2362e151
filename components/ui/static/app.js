// spin-logs viewer: plain JavaScript, no build step. It talks only to this
// origin's API routes (docs/routes.md); everything it shows, a curl
// could fetch. Live tails use EventSource with a URL token where the API has
// one (task files and apps; EventSource sends no headers), and a fetch-based
// SSE reader with the Authorization header elsewhere (components, pods).
// Both resume from the last event id, so invocation handoffs lose and repeat
// nothing.
'use strict';

// Lines kept in memory; the oldest go first. `?max_lines=N` sets another
// bound (100 to 1,000,000) for a small device or a long session.
const MAX_LINES = Math.min(1e6, Math.max(100,
  Number(new URLSearchParams(location.search).get('max_lines')) || 200000));
/** Where a log opens without a cursor: the last N lines, or its start. */
const history = () => $('history').value;
const fromHistory = () => (history() === 'all' ? 'cursor=BEG' : `skip=-${history()}`);
const STORE_KEY = 'spin-logs.token';
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

// ---------------------------------------------------------------- API access

class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
  }
}

const session = {
  get token() { return sessionStorage.getItem(STORE_KEY) || ''; },
  set token(v) { if (v) sessionStorage.setItem(STORE_KEY, v); else sessionStorage.removeItem(STORE_KEY); },
};

/** The Authorization header for the signed-in credential, as the CLI sends it. */
function authHeaders() {
  const t = session.token;
  if (!t) return {};
  return { Authorization: t.startsWith('slk_') ? `ApiKey ${t}` : `Bearer ${t}` };
}

async function problemOf(r) {
  try {
    const p = await r.json();
    return new ApiError(r.status, p.title || r.statusText, p.detail || '');
  } catch {
    return new ApiError(r.status, `${r.status} ${r.statusText}`, '');
  }
}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
  if (r.status === 401) { signOut('Your token was refused (401): sign in again.'); }
  if (!r.ok) throw await problemOf(r);
  return r;
}

const getJSON = async (path) => { const r = await api(path); return r.status === 204 ? null : r.json(); };
const postJSON = async (path, body) => (await api(path, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
})).json();

/** A URL token for one task or app ({task} or {app}): what EventSource and links carry. */
const urlTokens = new Map();
async function urlToken(subject) {
  const key = JSON.stringify(subject);
  const held = urlTokens.get(key);
  if (held && held.until > Date.now() + 30000) return held.token;
  const t = await postJSON('/system/v1/logs/v2/tokens', subject);
  urlTokens.set(key, { token: t.token, until: Date.now() + t.expires_in * 1000 });
  return t.token;
}

// ------------------------------------------------------- SSE over fetch
// An EventSource that sends headers: the same events, ids and retry, and a
// reconnect with Last-Event-ID, for routes a URL token cannot read.

class FetchEventSource {
  constructor(url, headers) {
    this.url = url; this.headers = headers; this.lastEventId = '';
    this.retry = 1000; this.listeners = {}; this.readyState = 0; this.abort = null;
    this.onopen = null; this.onerror = null;
    this.connect();
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  emit(type, e) { (this.listeners[type] || []).forEach((fn) => fn(e)); }
  close() { this.readyState = 2; if (this.abort) this.abort.abort(); }
  async connect() {
    if (this.readyState === 2) return;
    this.readyState = 0;
    this.abort = new AbortController();
    const headers = { Accept: 'text/event-stream', ...this.headers };
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    let r;
    try {
      r = await fetch(this.url, { headers, signal: this.abort.signal, cache: 'no-store' });
    } catch {
      return this.lost();
    }
    if (!r.ok || !(r.headers.get('content-type') || '').startsWith('text/event-stream')) {
      this.readyState = 2;
      const err = r.ok ? new ApiError(r.status, 'not an event stream', '') : await problemOf(r);
      if (this.onerror) this.onerror(err);
      return;
    }
    this.readyState = 1;
    if (this.onopen) this.onopen();
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '', data = [], type = '', id = null;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        // One pass over the chunk, cutting the rest off once: slicing the
        // buffer per line would copy a large history chunk once per line.
        const eol = /\r\n|\r|\n/g;
        let start = 0;
        for (let m; (m = eol.exec(buf));) {
          // A lone CR at the end may be half of a CRLF the next chunk ends.
          if (m[0] === '\r' && m.index === buf.length - 1) break;
          const line = buf.slice(start, m.index);
          start = m.index + m[0].length;
          if (line === '') {
            if (id !== null) this.lastEventId = id;
            if (data.length) {
              this.emit(type || 'message', { data: data.join('\n'), lastEventId: this.lastEventId, type: type || 'message' });
            }
            data = []; type = ''; id = null;
            continue;
          }
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          let v = c < 0 ? '' : line.slice(c + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'data') data.push(v);
          else if (field === 'event') type = v;
          else if (field === 'id' && !v.includes('\0')) id = v;
          else if (field === 'retry' && /^\d+$/.test(v)) this.retry = Number(v);
        }
        buf = buf.slice(start);
      }
    } catch { /* aborted or cut: reconnect below */ }
    this.lost();
  }
  lost() {
    if (this.readyState === 2) return;
    this.readyState = 0;
    if (this.onerror) this.onerror(null);
    setTimeout(() => this.connect(), this.retry);
  }
}

// ------------------------------------------------------------- the lines
// A bounded buffer: at most MAX_LINES (plus an eighth, so trimming is
// amortised), the oldest dropped first and counted.

class Lines {
  constructor() { this.clear(); }
  clear() { this.items = []; this.dropped = 0; }
  get length() { return this.items.length; }
  push(rec) {
    this.items.push(rec);
    if (this.items.length > MAX_LINES + (MAX_LINES >> 3)) {
      const n = this.items.length - MAX_LINES;
      this.items.splice(0, n);
      this.dropped += n;
      return n;
    }
    return 0;
  }
}

const escapeHTML = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `text` as HTML with every match of `re` marked. */
function highlight(text, re) {
  if (!re) return escapeHTML(text);
  let out = '', last = 0;
  re.lastIndex = 0;
  for (let m; (m = re.exec(text)) && m[0].length;) {
    out += escapeHTML(text.slice(last, m.index)) + '<mark>' + escapeHTML(m[0]) + '</mark>';
    last = m.index + m[0].length;
  }
  return out + escapeHTML(text.slice(last));
}

// ------------------------------------------------------ the virtual log view
// Only the rows in sight (plus a margin) are in the DOM, so 100,000 lines
// cost what 60 do. Rows have one height; a long line scrolls sideways.

class LogView {
  constructor() {
    this.el = $('log'); this.spacer = $('log-spacer'); this.rowsEl = $('log-rows');
    this.lines = new Lines(); this.follow = true; this.re = null; this.current = -1;
    this.pending = false; this.row = 20;
    this.el.addEventListener('scroll', () => {
      const bottom = this.el.scrollHeight - this.el.clientHeight - this.el.scrollTop;
      if (!this.programmatic) this.follow = bottom < this.row * 2;
      this.programmatic = false;
      this.schedule();
    });
    new ResizeObserver(() => this.schedule()).observe(this.el);
  }
  clear() { this.lines.clear(); this.current = -1; this.follow = true; this.schedule(); }
  append(records) {
    let dropped = 0;
    for (const r of records) dropped += this.lines.push(r);
    if (dropped && !this.follow) {
      this.current = Math.max(-1, this.current - dropped);
      this.programmatic = true;
      this.el.scrollTop -= dropped * this.row;
    }
    this.schedule();
  }
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }
  render() {
    const n = this.lines.length, row = this.row;
    this.spacer.style.height = `${n * row}px`;
    if (this.follow) {
      const top = Math.max(0, n * row - this.el.clientHeight);
      if (Math.abs(this.el.scrollTop - top) > 1) { this.programmatic = true; this.el.scrollTop = top; }
    }
    const first = Math.max(0, Math.floor(this.el.scrollTop / row) - 20);
    const last = Math.min(n, first + Math.ceil(this.el.clientHeight / row) + 40);
    let html = '';
    const base = this.lines.dropped + 1;
    for (let i = first; i < last; i++) {
      const r = this.lines.items[i];
      const hit = i === this.current ? ' hit' : '';
      html += `<div class="ln${hit}" data-i="${i}"><span class="no">${base + i}</span>${highlight(r.text, this.re)}</div>`;
    }
    this.rowsEl.innerHTML = html;
    this.rowsEl.style.transform = `translateY(${first * row}px)`;
    $('log-foot').textContent = `${n.toLocaleString()} lines` +
      (this.lines.dropped ? ` (the ${this.lines.dropped.toLocaleString()} oldest dropped: at most ${MAX_LINES.toLocaleString()} are kept)` : '');
  }
  toEnd() { this.follow = true; this.schedule(); }
  scrollTo(i) {
    this.follow = false; this.current = i;
    const top = i * this.row - this.el.clientHeight / 2;
    this.programmatic = true;
    this.el.scrollTop = Math.max(0, top);
    this.schedule();
  }
  setQuery(q) {
    this.re = q ? new RegExp(escapeRegExp(q), 'gi') : null;
    this.current = -1;
    this.schedule();
    return this.re ? this.count() : 0;
  }
  count() {
    let c = 0; const re = this.re;
    for (const r of this.lines.items) { re.lastIndex = 0; if (re.test(r.text)) c++; }
    return c;
  }
  /** The next (dir 1) or previous (-1) line that matches, from the current one. */
  next(dir) {
    const items = this.lines.items, n = items.length, re = this.re;
    if (!re || !n) return -1;
    let i = this.current < 0 ? (dir > 0 ? 0 : n - 1) : this.current + dir;
    for (let k = 0; k < n; k++, i += dir) {
      i = (i + n) % n;
      re.lastIndex = 0;
      if (re.test(items[i].text)) { this.scrollTo(i); return i; }
    }
    return -1;
  }
}

// ------------------------------------------------------------- sources
// Each kind of log says how to reach it: its stream URL (from a cursor or
// with history), whether EventSource can read it, how to turn its events
// into lines, and its search filter.

const sources = {
  task(task, file) {
    return {
      title: `${task} / ${file}`, task, file, native: true,
      search: { task, file },
      async url(last) {
        const tok = await urlToken({ task });
        const from = last ? `cursor=${enc(last)}` : fromHistory();
        return `/system/v1/logs/v2/task/${enc(task)}/file/${enc(file)}?${from}&token=${enc(tok)}`;
      },
      parse(e) { const d = JSON.parse(e.data); return [{ text: d.fields.MESSAGE, id: e.lastEventId }]; },
      async downloads() {
        const tok = await urlToken({ task });
        return [
          [`Download ${file}`, `/system/v1/logs/v2/task/${enc(task)}/file/${enc(file)}/download?token=${enc(tok)}`],
          ['Sandbox .tar.gz', `/system/v1/logs/v2/task/${enc(task)}/archive?token=${enc(tok)}`],
        ];
      },
    };
  },
  app(app) {
    return {
      title: `app ${app}`, native: true, search: { app },
      async url(last) {
        const tok = await urlToken({ app });
        const from = last ? `&last_event_id=${enc(last)}` : '';
        return `/apps/${enc(app)}/logs?stream=true&n=${history() === 'all' ? 10000 : history()}${from}&token=${enc(tok)}`;
      },
      parse(e) { const d = JSON.parse(e.data); return d.log === undefined ? [] : [{ text: d.log.replace(/\n$/, '') }]; },
    };
  },
  journal(unit) {
    return {
      title: unit ? `component ${unit}` : 'all component logs', native: false,
      async url(last) {
        const from = last ? `cursor=${enc(last)}` : fromHistory();
        return `/system/v1/logs/v2/follow/system/v1/logs/v2/component${unit ? '/' + enc(unit) : ''}?${from}`;
      },
      parse(e) {
        const d = JSON.parse(e.data), f = d.fields || {};
        const unitName = f.UNIT || f._SYSTEMD_UNIT || '';
        return [{ text: `${unitName ? unitName + ': ' : ''}${f.MESSAGE ?? ''}` }];
      },
    };
  },
  pod(namespace, pod) {
    const selector = `{namespace=${JSON.stringify(namespace)}, pod=${JSON.stringify(pod)}}`;
    return {
      title: `${namespace} / ${pod}`, native: false, search: { namespace, pod },
      async url() {
        const start = new Date(Date.now() - 3600e3).toISOString();
        return `/k8s/v1/tail?query=${enc(selector)}&start=${enc(start)}`;
      },
      parse(e) {
        return e.data.split('\n').filter(Boolean).map((l) => {
          const d = JSON.parse(l);
          return { text: `${d.timestamp} ${d.labels?.container ?? ''} ${d.line}` };
        });
      },
    };
  },
};

// ------------------------------------------------------------- the tail
// One open log: connects, follows, pauses (closing the stream, so no slot is
// held) and resumes from the last event id, reconnects after handoffs and
// errors, and reopens with a fresh URL token when one expires.

class Tail {
  constructor(source, view) {
    this.source = source; this.view = view; this.last = null; this.es = null;
    this.paused = false; this.closed = false; this.backoff = 1000;
    this.opens = 0; this.handoffs = 0; this.states = [];
  }
  setStatus(s, detail) {
    const el = $('status');
    el.textContent = detail ? `${s}: ${detail}` : s;
    el.className = `badge ${s}`;
    document.body.dataset.tail = s;
    // The last changes of state, for the curious (and the browser test).
    if (this.states[this.states.length - 1] !== s) this.states.push(s);
    if (this.states.length > 64) this.states.shift();
  }
  async connect() {
    if (this.closed || this.paused) return;
    this.setStatus(this.opens ? 'reconnecting' : 'connecting');
    let url;
    try {
      url = await this.source.url(this.last);
    } catch (err) {
      return this.retryLater(err);
    }
    if (this.closed || this.paused) return;
    const es = this.source.native ? new EventSource(url) : new FetchEventSource(url, authHeaders());
    this.es = es;
    es.onopen = () => { this.opens++; this.backoff = 1000; this.setStatus('live'); };
    const onLines = (e) => {
      if (es !== this.es) return;
      let recs;
      try { recs = this.source.parse(e); } catch { return; }
      if (e.lastEventId) this.last = e.lastEventId;
      this.view.append(recs);
    };
    es.addEventListener('message', onLines);
    es.addEventListener('logs', onLines);
    // The invocation ends: its last id is where the next one starts.
    es.addEventListener('resume', (e) => {
      if (e.lastEventId) this.last = e.lastEventId;
      this.handoffs++;
      this.setStatus('reconnecting');
    });
    es.addEventListener('end', () => { this.stop(); this.setStatus('ended'); });
    es.onerror = (err) => {
      if (es !== this.es) return;
      // CONNECTING: the browser reconnects by itself, with Last-Event-ID.
      if (es.readyState === 0) { this.setStatus('reconnecting'); return; }
      es.close();
      this.retryLater(err);
    };
  }
  retryLater(err) {
    if (this.closed || this.paused) return;
    if (err?.status === 401 && !this.source.native) { signOut('Your token was refused (401): sign in again.'); return; }
    if (err && (err.status === 403 || err.status === 404)) { this.setStatus('error', err.message); return; }
    // A refused stream is most often an expired URL token: mint a new one.
    urlTokens.clear();
    this.setStatus('reconnecting', err?.message);
    setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }
  stop() { if (this.es) { this.es.close(); this.es = null; } }
  pause() { this.paused = true; this.stop(); this.setStatus('paused'); }
  resume() { this.paused = false; this.connect(); }
  close() { this.closed = true; this.stop(); }
}

// ---------------------------------------------------------------- the page

const view = {};
let tail = null;

function show(which) {
  $('logs-view').hidden = which !== 'logs';
  $('jobs-view').hidden = which !== 'jobs';
  $('nav-logs').setAttribute('aria-pressed', String(which === 'logs'));
  $('nav-jobs').setAttribute('aria-pressed', String(which === 'jobs'));
}

function signOut(why) {
  session.token = '';
  if (tail) tail.close();
  tail = null;
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = why || '';
  $('token').focus();
}

async function signIn(token) {
  session.token = token;
  try {
    // Any read the credential may do: the label list is one index read.
    const r = await fetch('/loki/api/v1/labels', { headers: authHeaders() });
    if (!r.ok) throw await problemOf(r);
  } catch (err) {
    session.token = '';
    $('signin-error').textContent = err.message;
    return false;
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  $('who').textContent = describe(token);
  show('logs');
  await loadSources();
  return true;
}

/** Who the token says it is (a JWT's `uid`/`sub`), for the header. */
function describe(token) {
  if (token.startsWith('slk_')) return 'API key';
  try {
    const body = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return body.uid || body.sub || 'signed in';
  } catch { return 'signed in'; }
}

function item(label, sub, onOpen, attrs = {}) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.className = 'item';
  b.textContent = label;
  if (sub) { const s = document.createElement('span'); s.className = 'muted'; s.textContent = ` ${sub}`; b.append(s); }
  for (const [k, v] of Object.entries(attrs)) b.dataset[k] = v;
  b.addEventListener('click', () => onOpen(b, li));
  li.append(b);
  return li;
}

function fill(list, items, empty) {
  list.replaceChildren(...items);
  if (!items.length) { const li = document.createElement('li'); li.className = 'muted'; li.textContent = empty; list.append(li); }
}

async function loadSources() {
  const errors = [];
  const labelValues = (name) => getJSON(`/loki/api/v1/label/${name}/values`).then((v) => v?.data || []).catch((e) => { errors.push(e.message); return []; });
  const [tasks, apps, ns] = await Promise.all([
    labelValues('task'), labelValues('app'),
    getJSON('/k8s/v1/namespaces').then((v) => v?.namespaces || []).catch((e) => { errors.push(e.message); return []; }),
  ]);
  fill($('tasks'), tasks.map((t) => item(t, '', (b, li) => toggleTask(t, b, li), { task: t })), 'no task has lines yet');
  fill($('apps'), apps.map((a) => item(a, '', () => open(sources.app(a)), { app: a })), 'no app');
  fill($('namespaces'), ns.map((n) => item(n.name, `${n.pods} pods`, (b, li) => toggleNamespace(n.name, b, li), { namespace: n.name })), 'no namespace');
  if (errors.length) $('log-foot').textContent = `Some lists could not load: ${errors[0]}`;
}

/** Opens (or closes) the list under an entry: `load` gives its items. */
async function expand(button, li, load, empty) {
  const shown = li.querySelector('ul');
  if (shown) { shown.remove(); button.setAttribute('aria-expanded', 'false'); return; }
  button.setAttribute('aria-expanded', 'true');
  const ul = document.createElement('ul');
  li.append(ul);
  try { fill(ul, await load(), empty); } catch (err) { fill(ul, [], err.message); }
}

/** A task's files, from its sandbox listing (discovery redirects to it). */
const toggleTask = (task, button, li) => expand(button, li, async () => {
  const files = await getJSON(`/system/v1/logs/v2/task/${enc(task)}/browse`) || [];
  return files.map((f) => {
    const name = f.path.split('/').pop();
    return item(name, size(f.size), () => open(sources.task(task, name)), { task, file: name });
  });
}, 'no files');

const toggleNamespace = (ns, button, li) => expand(button, li, async () => {
  const pods = (await getJSON(`/k8s/v1/pods?namespace=${enc(ns)}`))?.pods || [];
  return pods.map((p) => item(p.name, (p.containers || []).join(', '), () => open(sources.pod(ns, p.name)), { pod: p.name }));
}, 'no pods');

function size(n) {
  if (n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

let current = null;
async function open(source) {
  if (tail) tail.close();
  current = source;
  document.querySelectorAll('.item[aria-current]').forEach((b) => b.removeAttribute('aria-current'));
  document.activeElement?.classList?.contains('item') && document.activeElement.setAttribute('aria-current', 'true');
  $('title').textContent = source.title;
  document.title = `${source.title} · spin-logs`;
  view.log.clear();
  $('q').value = ''; $('hits').textContent = ''; view.log.setQuery('');
  $('results').hidden = true;
  for (const id of ['pause', 'bottom', 'q']) $(id).disabled = false;
  for (const id of ['search-all', 'at', 'jump']) $(id).disabled = !source.search;
  $('pause').textContent = 'Pause';
  $('side').classList.remove('open');
  $('menu').setAttribute('aria-expanded', 'false');
  const dl = $('downloads');
  dl.replaceChildren();
  tail = new Tail(source, view.log);
  tail.connect();
  $('log').focus();
  if (source.downloads) {
    try {
      for (const [label, href] of await source.downloads()) {
        const a = document.createElement('a');
        a.href = href; a.textContent = label; a.setAttribute('download', ''); a.className = 'dl';
        dl.append(a, ' ');
      }
    } catch (err) { dl.textContent = err.message; }
  }
}

function togglePause() {
  if (!tail) return;
  if (tail.paused) { tail.resume(); $('pause').textContent = 'Pause'; } else { tail.pause(); $('pause').textContent = 'Resume'; }
}

// Search everything stored (not only the lines in memory), with context.
async function searchAll() {
  const q = $('q').value.trim();
  if (!q || !current?.search) return;
  await results(`Matches of “${q}”`, () => postJSON('/k8s/v1/search', {
    ...current.search, contains: [q], case_insensitive: true, context_before: 2, context_after: 2, limit: 200, direction: 'backward',
  }), new RegExp(escapeRegExp(q), 'gi'));
}

// The lines from a moment on, by the API's time order.
async function jump() {
  const at = $('at').value;
  if (!at || !current?.search) return;
  const start = new Date(at).toISOString();
  const qs = new URLSearchParams({ ...current.search, start, direction: 'forward', limit: '500' });
  await results(`From ${new Date(at).toLocaleString()}`, () => getJSON(`/k8s/v1/?${qs}`), view.log.re);
}

async function results(title, fetcher, re) {
  const list = $('results-list');
  $('results').hidden = false;
  $('results-title').textContent = `${title}…`;
  list.replaceChildren();
  let r;
  try { r = await fetcher(); } catch (err) { $('results-title').textContent = `${title}: ${err.message}`; return; }
  const logs = r?.logs || [];
  $('results-title').textContent = `${title}: ${logs.length}${r?.has_more ? '+' : ''}`;
  const html = logs.map((l) => {
    const ctx = (xs) => (xs || []).map((c) => `<div class="ctx">${escapeHTML(typeof c === 'string' ? c : c.line ?? '')}</div>`).join('');
    return `<li>${ctx(l.context_before)}<div><time>${escapeHTML(l.timestamp || '')}</time>${highlight(l.line, re)}</div>${ctx(l.context_after)}</li>`;
  }).join('');
  list.innerHTML = html || '<li class="muted">nothing</li>';
}

// ------------------------------------------------------------------- jobs

const jobsBase = () => `/api/public/v1.0/groups/${enc($('job-group').value.trim())}/logCollectionJobs`;
const jobPolls = new Set();

function jobRow(job) {
  const tr = document.createElement('tr');
  tr.dataset.job = job.id;
  const total = job.uncompressedSizeTotalBytes || 0;
  const got = (job.childJobs || []).reduce((s, c) => s + (c.collectedBytes || 0), 0);
  const done = job.status !== 'IN_PROGRESS';
  const cells = [job.id, job.creationDate || '', job.status];
  for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
  const p = document.createElement('td');
  const bar = document.createElement('progress');
  bar.max = 100; bar.value = done ? 100 : (total ? Math.min(99, (got / total) * 100) : 0);
  bar.setAttribute('aria-label', `job ${job.id} progress`);
  p.append(bar);
  tr.append(p);
  const act = document.createElement('td');
  if (job.downloadUrl) {
    const b = document.createElement('button');
    b.textContent = `Download (${size(job.downloadSizeBytes)})`;
    b.addEventListener('click', () => downloadJob(job));
    act.append(b);
  }
  tr.append(act);
  return tr;
}

function putJob(job) {
  const tbody = $('jobs');
  const row = jobRow(job);
  const old = tbody.querySelector(`tr[data-job="${CSS.escape(job.id)}"]`);
  if (old) old.replaceWith(row); else tbody.prepend(row);
  if (job.status === 'IN_PROGRESS') pollJob(job.id);
}

// Each GET advances an IN_PROGRESS job by one step: polling is what runs it.
function pollJob(id) {
  if (jobPolls.has(id)) return;
  jobPolls.add(id);
  const base = jobsBase();
  const step = async () => {
    try {
      const job = await getJSON(`${base}/${enc(id)}`);
      jobPolls.delete(id);
      putJob(job);
    } catch (err) {
      jobPolls.delete(id);
      $('job-error').textContent = err.message;
    }
  };
  setTimeout(step, 500);
}

async function listJobs() {
  $('job-error').textContent = '';
  localStorage.setItem('spin-logs.group', $('job-group').value.trim());
  try {
    const r = await getJSON(jobsBase());
    $('jobs').replaceChildren();
    for (const job of (r?.results || []).slice().reverse()) putJob(job);
  } catch (err) { $('job-error').textContent = err.message; }
}

async function createJob(e) {
  e.preventDefault();
  $('job-error').textContent = '';
  const list = (id) => $(id).value.split(',').map((s) => s.trim()).filter(Boolean);
  const body = { tasks: list('job-tasks'), components: list('job-components'), redacted: $('job-redacted').checked };
  const hours = Number($('job-since').value);
  if (hours) body.since = new Date(Date.now() - hours * 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
  localStorage.setItem('spin-logs.group', $('job-group').value.trim());
  try { putJob(await postJSON(jobsBase(), body)); } catch (err) { $('job-error').textContent = err.message; }
}

// A job's archive through a URL token for its download only: a plain link,
// so the browser streams it to disk however large it is.
async function downloadJob(job) {
  try {
    const t = await postJSON(job.downloadUrl.replace(/\/download$/, '/token'), {});
    const a = document.createElement('a');
    a.href = t.url;
    a.download = `${job.id}.tar.gz`;
    document.body.append(a); a.click(); a.remove();
  } catch (err) { $('job-error').textContent = err.message; }
}

// ------------------------------------------------------------- wiring

function keys(e) {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
  if (e.key === 'Escape') {
    if (!$('results').hidden) { $('results').hidden = true; return; }
    $('side').classList.remove('open');
    if (typing) e.target.blur();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === '/') { e.preventDefault(); $('q').focus(); }
  else if (e.key === 'p' && tail) togglePause();
  else if (e.key === 'n' && view.log.re) view.log.next(1);
  else if (e.key === 'N' && view.log.re) view.log.next(-1);
  else if (e.key === 'End' && e.target === $('log')) { e.preventDefault(); view.log.toEnd(); }
  else if (e.key === 'Home' && e.target === $('log')) { e.preventDefault(); view.log.scrollTo(0); }
}

function init() {
  view.log = new LogView();
  // For tests and the curious (the console): the open tail and the lines.
  window.spinLogs = { get tail() { return tail; }, get lines() { return view.log.lines; } };
  $('history').addEventListener('change', () => { if (current) open(current); });
  $('signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value.trim()); });
  $('signout').addEventListener('click', () => signOut(''));
  $('nav-logs').addEventListener('click', () => show('logs'));
  $('nav-jobs').addEventListener('click', () => { show('jobs'); if ($('job-group').value) listJobs(); });
  $('refresh').addEventListener('click', loadSources);
  $('menu').addEventListener('click', () => {
    const open_ = $('side').classList.toggle('open');
    $('menu').setAttribute('aria-expanded', String(open_));
  });
  document.querySelectorAll('.fold').forEach((b) => b.addEventListener('click', () => {
    const list = $(b.getAttribute('aria-controls'));
    list.hidden = !list.hidden;
    b.setAttribute('aria-expanded', String(!list.hidden));
  }));
  $('components').querySelector('button').addEventListener('click', () => open(sources.journal('')));
  $('pause').addEventListener('click', togglePause);
  $('bottom').addEventListener('click', () => view.log.toEnd());
  let debounce;
  $('q').addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const n = view.log.setQuery($('q').value);
      $('hits').textContent = $('q').value ? `${n.toLocaleString()} lines match` : '';
    }, 120);
  });
  $('q').addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    clearTimeout(debounce);
    if (!view.log.re || view.log.re.source !== escapeRegExp($('q').value)) {
      const n = view.log.setQuery($('q').value);
      $('hits').textContent = `${n.toLocaleString()} lines match`;
    }
    view.log.next(e.shiftKey ? -1 : 1);
  });
  $('search-all').addEventListener('click', searchAll);
  $('jump').addEventListener('click', jump);
  $('results-close').addEventListener('click', () => { $('results').hidden = true; });
  $('job-form').addEventListener('submit', createJob);
  $('job-list').addEventListener('click', listJobs);
  $('job-group').value = localStorage.getItem('spin-logs.group') || '';
  document.addEventListener('keydown', keys);
  if (session.token) signIn(session.token).then((ok) => { if (!ok) signOut($('signin-error').textContent); });
  else signOut('');
}

document.addEventListener('DOMContentLoaded', init);
