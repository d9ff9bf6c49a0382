// agentproc's page for the person supervising the agent. Hand-written, no
// framework, no build step: it uses only the public API (the JSON routes
// under /api/v0/processes, GET /{id}/stream, /healthz), so it is also an
// example of it. With a token configured, it trades the token for a
// session cookie once (POST /api/ui/login): EventSource cannot send an
// Authorization header. Served with a Content-Security-Policy of 'self'
// only, so nothing here sets inline styles or handlers through markup.
'use strict';

const API = '/api/v0/processes';
// The most processes the page lists (GET /list?limit=N; the server caps it).
const LIST_LIMIT = 1000;
// A live view starts at most this far before the end of the log.
const LIVE_WINDOW = 1 << 20;
// The most characters the live view keeps in the page; older ones go.
const DOM_BUDGET = 2000000;
const LIST_EVERY_MS = 2000;
const HEALTH_EVERY_MS = 5000;
const REFRESH_EVERY_MS = 3000;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const state = {
  processes: [],
  byId: new Map(),
  rows: new Map(), // id -> { li, sig }
  selected: null,
  exits: new Map(), // id -> exit event seen on a stream, until the list has it
  snapshot: null, // GET /output of a selected process the list does not show
  view: 'live',
  gen: 0, // bumped on every change of process or view: stale answers are dropped
  es: null,
  term: null,
  timer: null,
  chat: '',
  stdin: new Set(), // started here with "stdin": true
  loginShown: false,
  listTimer: null,
  listBusy: false,
  listAgain: false,
  listFailing: false,
  search: null, // { regex } of the last search, for highlighting lines
  noLogs: false,
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'agentproc cannot be reached.', String(error));
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (response.status === 401 && !quiet401) needLogin();
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.message) || response.statusText, data && data.detail);
  }
  return data;
}

const processPath = (id, rest) => `${API}/${encodeURIComponent(id)}/${rest}`;

// ---------------------------------------------------------------- formatting

function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i === 0 ? n : n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function fmtTime(unix) {
  const date = new Date(unix * 1000);
  const now = new Date();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  return `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

const firstLine = (text) => {
  const line = text.split('\n', 1)[0];
  return line.length < text.length ? `${line} …` : line;
};
const shortId = (id) => id.slice(0, 8);

// A long path by its last two components.
function shortPath(path) {
  if (path.length <= 32) return path;
  const parts = path.split('/').filter(Boolean);
  return `…/${parts.slice(-2).join('/')}`;
}

function cpuText(usage) {
  if (!usage) return '';
  return fmtDuration(usage.user_cpu_ms + usage.system_cpu_ms);
}

// How a process stands: a label, a class for its colour, and a sentence.
function stateOf(p) {
  if (p.running) {
    if (p.awaiting_input) {
      return { cls: 'waiting', text: 'waiting for input', title: `Running, blocked reading its ${p.input_kind === 'pipe' ? 'standard input' : 'terminal'} (${p.input_kind})` };
    }
    return { cls: 'running', text: 'running', title: 'Running' };
  }
  const reason = p.exit_reason;
  const signal = p.signal ? `${p.signal}${p.core_dumped ? ' (core dumped)' : ''}` : '';
  const code = `exit ${p.exit_code}`;
  switch (reason) {
    case 'spawn_failed':
      return { cls: 'bad', text: 'failed to start', title: p.error || 'It never ran' };
    case 'killed':
      return { cls: 'stopped', text: `${signal || code} · killed`, title: `Stopped on request${signal ? ` by ${signal}` : ''}` };
    case 'deadline_exceeded':
      return { cls: 'stopped', text: `${signal || code} · timed out`, title: 'Its timeout passed and agentproc stopped it' };
    case 'shutdown':
      return { cls: 'stopped', text: `${signal || code} · shutdown`, title: 'agentproc stopped it while shutting down' };
    case 'oom_killed':
      return { cls: 'bad', text: `${signal || code}`, oom: true, title: 'The kernel\'s OOM killer killed a process of its tree' };
    case 'signaled':
      return { cls: 'bad', text: signal || code, title: `Ended by ${signal || 'a signal'} nobody asked agentproc to send` };
    default:
      return { cls: p.exit_code === 0 ? 'ok' : 'bad', text: code, title: `Exited with code ${p.exit_code}` };
  }
}

function badge(node, p) {
  const s = stateOf(p);
  node.className = `state ${s.cls}`;
  node.textContent = s.text;
  node.title = s.title;
  if (s.oom) node.append(el('span', 'oom', 'OOM'));
}

function durationOf(p) {
  if (p.running) return p.started_at_unix ? Date.now() - p.started_at_unix * 1000 : undefined;
  return p.duration_ms;
}

// ---------------------------------------------------------------- ANSI output

// A small terminal-output renderer: SGR colours and styles (16, 256 and
// RGB colours), carriage returns that rewrite the current line (progress
// bars), backspace; every other escape sequence is dropped. Completed
// lines are appended in chunks; writes are batched per animation frame.
const BLANK = Object.freeze({ b: false, d: false, i: false, u: false, s: false, inv: false, fg: null, bg: null, key: '' });

function styleKey(s) {
  const flags = `${s.b ? 'b' : ''}${s.d ? 'd' : ''}${s.i ? 'i' : ''}${s.u ? 'u' : ''}${s.s ? 's' : ''}${s.inv ? 'v' : ''}`;
  return s.fg === null && s.bg === null && !flags ? '' : `${flags}|${s.fg}|${s.bg}`;
}

function color256(n) {
  if (!(n >= 0 && n <= 255)) return null;
  if (n < 16) return n;
  if (n < 232) {
    const v = n - 16;
    const level = (x) => (x ? 55 + x * 40 : 0);
    return `rgb(${level(Math.floor(v / 36))},${level(Math.floor(v / 6) % 6)},${level(v % 6)})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey},${grey},${grey})`;
}

function sgr(style, params) {
  const p = params === '' ? [0] : params.split(/[;:]/).map((x) => (x === '' ? 0 : Number.parseInt(x, 10)));
  const s = { ...style };
  for (let k = 0; k < p.length; k += 1) {
    const v = p[k];
    if (v === 0) Object.assign(s, BLANK);
    else if (v === 1) s.b = true;
    else if (v === 2) s.d = true;
    else if (v === 3) s.i = true;
    else if (v === 4) s.u = true;
    else if (v === 7) s.inv = true;
    else if (v === 9) s.s = true;
    else if (v === 22) { s.b = false; s.d = false; }
    else if (v === 23) s.i = false;
    else if (v === 24) s.u = false;
    else if (v === 27) s.inv = false;
    else if (v === 29) s.s = false;
    else if (v >= 30 && v <= 37) s.fg = v - 30;
    else if (v >= 90 && v <= 97) s.fg = v - 82;
    else if (v === 39) s.fg = null;
    else if (v >= 40 && v <= 47) s.bg = v - 40;
    else if (v >= 100 && v <= 107) s.bg = v - 92;
    else if (v === 49) s.bg = null;
    else if (v === 38 || v === 48) {
      let color = null;
      if (p[k + 1] === 5) { color = color256(p[k + 2]); k += 2; }
      else if (p[k + 1] === 2) {
        const [r, g, b] = [p[k + 2], p[k + 3], p[k + 4]].map((x) => Math.max(0, Math.min(255, x || 0)));
        color = `rgb(${r},${g},${b})`;
        k += 4;
      }
      if (v === 38) s.fg = color; else s.bg = color;
    }
  }
  s.key = styleKey(s);
  return s;
}

function styledNode(text, s) {
  if (s.key === '') return document.createTextNode(text);
  const span = el('span');
  let fg = s.fg;
  let bg = s.bg;
  const classes = [];
  if (s.inv) {
    [fg, bg] = [bg, fg];
    if (fg === null) classes.push('fr');
    if (bg === null) classes.push('gr');
  }
  if (typeof fg === 'number') classes.push(`f${fg}`);
  else if (typeof fg === 'string') span.style.color = fg; // CSSOM: allowed by the CSP
  if (typeof bg === 'number') classes.push(`g${bg}`);
  else if (typeof bg === 'string') span.style.backgroundColor = bg;
  for (const flag of ['b', 'd', 'i', 'u', 's']) if (s[flag]) classes.push(flag);
  if (classes.length) span.className = classes.join(' ');
  span.textContent = text;
  return span;
}

// The end of the escape sequence starting at `i` (an ESC), or -1 when the
// text ends inside it.
function escapeEnd(text, i) {
  const n = text.length;
  if (i + 1 >= n) return -1;
  const kind = text[i + 1];
  if (kind === '[') {
    for (let j = i + 2; j < n; j += 1) {
      const c = text.charCodeAt(j);
      if (c >= 0x40 && c <= 0x7e) return j + 1; // the final byte
      if (c < 0x20 || c > 0x7e) return j; // not a sequence after all: drop its start
    }
    return -1;
  }
  if (kind === ']' || kind === 'P' || kind === 'X' || kind === '^' || kind === '_') {
    for (let j = i + 2; j < n; j += 1) {
      if (text.charCodeAt(j) === 7) return j + 1;
      if (text.charCodeAt(j) === 27) return j + 1 < n ? j + 2 : -1;
    }
    return -1;
  }
  if ('()*+'.includes(kind)) return i + 3 <= n ? i + 3 : -1;
  return i + 2;
}

class Ansi {
  constructor(pre, onTrim) {
    this.pre = pre;
    this.onTrim = onTrim;
    // Completed lines come in blocks of their own, so appending one lays
    // out only the new block, not everything before it.
    this.done = el('div', 'chunks');
    this.cur = el('div', 'chunk');
    pre.append(this.done, this.cur);
    this.style = BLANK;
    this.line = []; // the current line: [text, style] segments
    this.pending = ''; // an escape sequence cut by the end of a write
    this.cr = false;
    this.queue = '';
    this.scheduled = false;
    this.size = 0;
    this.dropped = 0;
  }

  write(text) {
    this.queue += text;
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  // A line of the page's own (a gap, an error), not the program's.
  note(text) {
    this.flush();
    this.done.append(el('div', 'chunk note', text));
  }

  flush() {
    this.scheduled = false;
    if (!this.queue && !this.pending) return;
    const text = this.pending + this.queue;
    this.queue = '';
    this.pending = '';
    const follow = atBottom(this.pre);
    const completed = [];
    let run = '';
    const commit = () => {
      if (run) { this.line.push([run, this.style]); run = ''; }
    };
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (this.cr) {
        this.cr = false;
        if (c !== 10) { run = ''; this.line = []; }
      }
      if (c === 27) {
        const end = escapeEnd(text, i);
        if (end < 0) {
          if (n - i < 4096) this.pending = text.slice(i);
          break;
        }
        if (text[i + 1] === '[' && text[end - 1] === 'm') {
          commit();
          this.style = sgr(this.style, text.slice(i + 2, end - 1));
        }
        i = end;
      } else if (c === 10) {
        commit();
        this.line.push(['\n', BLANK]);
        for (const segment of this.line) completed.push(segment);
        this.line = [];
        i += 1;
      } else if (c === 13) {
        commit();
        this.cr = true;
        i += 1;
      } else if (c === 8) {
        if (run) run = run.slice(0, -1);
        else if (this.line.length) {
          const last = this.line[this.line.length - 1];
          last[0] = last[0].slice(0, -1);
          if (!last[0]) this.line.pop();
        }
        i += 1;
      } else if (c < 32 && c !== 9 || c === 127) {
        i += 1;
      } else {
        let j = i + 1;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d < 32 && d !== 9 || d === 127) break;
          j += 1;
        }
        run += text.slice(i, j);
        i = j;
      }
    }
    commit();
    if (completed.length) {
      const chunk = el('div', 'chunk');
      chunk.append(...merge(completed));
      const length = chunk.textContent.length;
      this.done.append(chunk);
      this.size += length;
      while (this.size > DOM_BUDGET && this.done.childNodes.length > 1) {
        const first = this.done.firstChild;
        const gone = first.textContent.length;
        first.remove();
        this.size -= gone;
        this.dropped += gone;
      }
      if (this.dropped && this.onTrim) this.onTrim(this.dropped);
    }
    this.cur.replaceChildren(...merge(this.line));
    if (follow) scrollToEnd(this.pre);
  }
}

// Nodes for segments, adjacent segments of one style merged.
function merge(segments) {
  const nodes = [];
  let text = '';
  let style = null;
  for (const [part, s] of segments) {
    // A newline shows no style: it joins whatever run it follows.
    if (style && (s.key === style.key || part === '\n')) { text += part; continue; }
    if (style) nodes.push(styledNode(text, style));
    text = part;
    style = s;
  }
  if (style) nodes.push(styledNode(text, style));
  return nodes;
}

function atBottom(node) {
  return node.scrollHeight - node.scrollTop - node.clientHeight < 24;
}

function scrollToEnd(node) {
  node.scrollTop = node.scrollHeight;
}

// ---------------------------------------------------------------- highlighting

// A JavaScript version of a search pattern, for marking matches (the
// server's syntax is Rust's regex; what JavaScript cannot compile marks the
// whole line instead).
function jsRegex(pattern, ignoreCase) {
  let flags = 'g';
  let source = pattern;
  if (source.startsWith('(?i)')) { source = source.slice(4); flags += 'i'; }
  if (ignoreCase && !flags.includes('i')) flags += 'i';
  try { return new RegExp(source, flags); } catch (_) { return null; }
}

function highlighted(text, regex) {
  const fragment = document.createDocumentFragment();
  if (!regex) {
    fragment.append(el('mark', '', text));
    return fragment;
  }
  regex.lastIndex = 0;
  let last = 0;
  let match;
  let guard = 0;
  while ((match = regex.exec(text)) !== null && guard < 1000) {
    guard += 1;
    if (match[0] === '') { regex.lastIndex += 1; continue; }
    fragment.append(text.slice(last, match.index), el('mark', '', match[0]));
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

// ---------------------------------------------------------------- the list

function scheduleList(delay = LIST_EVERY_MS) {
  clearTimeout(state.listTimer);
  if (state.loginShown) return;
  state.listTimer = setTimeout(refreshList, document.hidden ? 5 * delay : delay);
}

async function refreshList() {
  if (state.listBusy) { state.listAgain = true; return; }
  state.listBusy = true;
  try {
    const data = await api(`${API}/list?limit=${LIST_LIMIT}`);
    state.listFailing = false;
    setProcesses(data.processes);
  } catch (error) {
    // Said once, not every two seconds while agentproc is away.
    if (error.status !== 401 && !state.listFailing) showToast(`Listing processes failed: ${error.message}`, true);
    state.listFailing = true;
  } finally {
    state.listBusy = false;
    if (state.listAgain) { state.listAgain = false; refreshList(); } else scheduleList();
  }
}

function setProcesses(processes) {
  state.processes = processes;
  state.byId = new Map(processes.map((p) => [p.id, p]));
  for (const p of processes) if (!p.running) state.exits.delete(p.id);
  updateChatOptions();
  renderList();
  if (state.selected) renderHead();
}

function visible(p) {
  if (state.chat === '') return true;
  if (state.chat === '-') return !p.chat_id;
  return p.chat_id === state.chat;
}

function updateChatOptions() {
  const select = $('chat-filter');
  const known = new Set([...select.options].map((o) => o.value));
  const chats = [...new Set(state.processes.map((p) => p.chat_id).filter(Boolean))].sort();
  for (const chat of chats) {
    if (known.has(chat)) continue;
    const option = el('option', '', `chat ${shortId(chat)}…`);
    option.value = chat;
    option.title = chat;
    select.append(option);
  }
}

function renderList() {
  const list = $('proc-list');
  const shown = state.processes.filter(visible);
  const seen = new Set();
  let previous = null;
  for (const p of shown) {
    seen.add(p.id);
    let row = state.rows.get(p.id);
    const sig = JSON.stringify(p);
    if (!row) {
      row = { li: buildRow(p.id), sig: '' };
      state.rows.set(p.id, row);
    }
    if (row.sig !== sig) {
      fillRow(row.li, p);
      row.sig = sig;
    }
    row.li.classList.toggle('selected', p.id === state.selected);
    const expected = previous ? previous.nextSibling : list.firstChild;
    if (expected !== row.li) list.insertBefore(row.li, expected);
    previous = row.li;
  }
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) { row.li.remove(); state.rows.delete(id); }
  }
  const total = state.processes.length;
  $('list-empty').hidden = shown.length > 0;
  $('list-count').textContent = shown.length === total
    ? `${total} process${total === 1 ? '' : 'es'}${total >= LIST_LIMIT ? ' (the newest)' : ''}`
    : `${shown.length} of ${total}`;
}

function buildRow(id) {
  const li = el('li');
  li.dataset.id = id;
  const a = el('a');
  a.href = `#/p/${id}`;
  const top = el('div', 'row-top');
  top.append(el('span', 'state'), el('code', 'row-cmd'));
  const meta = el('div', 'row-meta');
  for (const cls of ['started', 'dur', 'cpu', 'mem', 'wd', 'chat']) meta.append(el('span', cls));
  a.append(top, meta);
  li.append(a);
  return li;
}

function fillRow(li, p) {
  const [badgeNode, cmd] = li.querySelector('.row-top').children;
  badge(badgeNode, p);
  cmd.textContent = firstLine(p.command);
  cmd.title = p.command;
  const meta = li.querySelector('.row-meta');
  const set = (cls, text, title) => {
    const node = meta.querySelector(`.${cls}`);
    node.textContent = text;
    node.title = title || '';
    node.hidden = !text;
  };
  set('started', fmtTime(p.started_at_unix), `Started ${new Date(p.started_at_unix * 1000).toISOString()}`);
  set('dur', fmtDuration(durationOf(p)), p.running ? 'Running for' : 'Duration');
  const usage = p.usage;
  set('cpu', usage ? `CPU ${cpuText(usage)}` : '', usage ? `user ${fmtDuration(usage.user_cpu_ms)}, system ${fmtDuration(usage.system_cpu_ms)}` : '');
  set('mem', usage && usage.max_rss_bytes ? `peak ${fmtBytes(usage.max_rss_bytes)}` : '', 'Peak resident memory');
  set('wd', p.workdir ? shortPath(p.workdir) : '', p.workdir ? `Working directory: ${p.workdir}` : '');
  set('chat', p.chat_id ? `chat ${shortId(p.chat_id)}` : '', p.chat_id ? `Chat ${p.chat_id}` : '');
}

// Running durations move every second without a new list.
function tick() {
  for (const [id, row] of state.rows) {
    const p = state.byId.get(id);
    if (p && p.running) {
      const node = row.li.querySelector('.dur');
      node.textContent = fmtDuration(durationOf(p));
      node.hidden = false;
    }
  }
  const p = current();
  if (p && p.running) {
    const node = $('d-meta').querySelector('[data-key="duration"] dd');
    if (node) node.textContent = fmtDuration(durationOf(p));
  }
}

// ---------------------------------------------------------------- the process view

// What is known of the selected process: the list's entry (with an exit a
// stream reported since), or the snapshot when the list does not show it.
function current() {
  const id = state.selected;
  if (!id) return null;
  const listed = state.byId.get(id) || state.snapshot;
  if (!listed) return null;
  const exit = state.exits.get(id);
  return exit && listed.running ? { ...listed, ...exit, running: false } : listed;
}

function route() {
  const match = /^#\/p\/([0-9a-fA-F-]{36})$/.exec(location.hash);
  select(match ? match[1].toLowerCase() : null);
}

function select(id) {
  document.body.classList.toggle('viewing', Boolean(id));
  if (id === state.selected) return;
  closeView();
  state.selected = id;
  state.snapshot = null;
  for (const [rowId, row] of state.rows) row.li.classList.toggle('selected', rowId === id);
  $('detail').hidden = !id;
  $('detail-empty').hidden = Boolean(id);
  $('search-results').hidden = true;
  $('search-pattern').value = '';
  state.search = null;
  if (!id) { document.title = 'agentproc'; return; }
  if (!state.byId.has(id)) loadSnapshot(id);
  renderHead();
  showView('live');
}

async function loadSnapshot(id) {
  try {
    const snapshot = await api(processPath(id, 'output'));
    if (state.selected !== id || state.byId.has(id)) return;
    state.snapshot = { id, command: '(not in the list)', ...snapshot };
    renderHead();
  } catch (error) {
    if (state.selected === id && error.status === 404) {
      $('d-command').textContent = 'This process is not known: it was forgotten after its retention, belongs to another chat, or never existed.';
    }
  }
}

function renderHead() {
  const p = current();
  if (!p) return;
  badge($('d-state'), p);
  $('d-command').textContent = p.command;
  document.title = `${stateOf(p).text} · ${firstLine(p.command)} — agentproc`;
  const meta = $('d-meta');
  meta.replaceChildren();
  const add = (key, label, value, title) => {
    if (value === undefined || value === null || value === '') return null;
    const item = el('div');
    item.dataset.key = key;
    const dd = el('dd');
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    if (title) item.title = title;
    item.append(el('dt', '', label), dd);
    meta.append(item);
    return item;
  };
  if (p.started_at_unix) add('started', 'Started', new Date(p.started_at_unix * 1000).toLocaleString());
  add('duration', p.running ? 'Running for' : 'Duration', fmtDuration(durationOf(p)));
  if (p.usage) {
    add('cpu', 'CPU', cpuText(p.usage), `user ${fmtDuration(p.usage.user_cpu_ms)}, system ${fmtDuration(p.usage.system_cpu_ms)}`);
    if (p.usage.max_rss_bytes) add('memory', 'Peak memory', fmtBytes(p.usage.max_rss_bytes));
    if (p.usage.forks_refused) add('forks', 'Forks refused', String(p.usage.forks_refused));
    if (p.usage.cpu_throttled_ms) add('throttled', 'CPU throttled', fmtDuration(p.usage.cpu_throttled_ms));
  }
  add('pid', 'PID', p.pid === undefined ? '' : String(p.pid));
  add('workdir', 'Workdir', p.workdir);
  if (p.chat_id) {
    const button = el('button', 'quiet', p.chat_id);
    button.type = 'button';
    button.title = 'Show only this chat\'s processes';
    button.addEventListener('click', () => setChat(p.chat_id));
    add('chat', 'Chat', button);
  }
  if (p.timeout_ms) add('timeout', 'Timeout', fmtDuration(p.timeout_ms));
  if (p.tty) add('tty', 'Terminal', `${p.tty.cols}×${p.tty.rows}`);
  if (p.background) add('background', 'Background', 'yes');
  if (p.client_token) add('token', 'Client token', p.client_token);
  if (p.limits) {
    const parts = [];
    if (p.limits.memory_bytes) parts.push(`memory ${fmtBytes(p.limits.memory_bytes)}`);
    if (p.limits.memory_high_bytes) parts.push(`memory.high ${fmtBytes(p.limits.memory_high_bytes)}`);
    if (p.limits.cpu_cores) parts.push(`${p.limits.cpu_cores} cores`);
    if (p.limits.pids) parts.push(`${p.limits.pids} pids`);
    add('limits', 'Limits', parts.join(', '));
  }
  if (p.isolation) add('isolation', 'Isolation', describeIsolation(p.isolation));
  if (p.error) add('error', 'Error', p.error);
  for (const button of document.querySelectorAll('.signals button')) button.disabled = !p.running;
  $('tab-screen').hidden = !p.tty;
  // The input box, where the process takes input.
  const takesInput = Boolean(p.running && (p.tty || state.stdin.has(p.id) || p.input_kind === 'pipe'));
  const form = $('input-form');
  if (form.hidden === takesInput) form.hidden = !takesInput;
  $('input-label').textContent = p.tty ? 'Terminal' : 'Standard input';
  form.classList.toggle('waiting', Boolean(p.awaiting_input));
}

function setChat(chat) {
  state.chat = chat;
  $('chat-filter').value = chat;
  renderList();
}

function closeView() {
  state.gen += 1;
  if (state.es) { state.es.close(); state.es = null; }
  clearTimeout(state.timer);
  state.term = null;
  $('follow').hidden = true;
}

function setNote(text) {
  const note = $('view-note');
  note.textContent = text || '';
  note.hidden = !text;
}

function freshOutput(className = 'output') {
  const out = $('output');
  out.replaceChildren();
  out.className = className;
  out.scrollTop = 0;
  return out;
}

function showView(view, options = {}) {
  closeView();
  state.view = view;
  for (const tab of document.querySelectorAll('.tabs [data-view]')) {
    tab.setAttribute('aria-selected', String(tab.dataset.view === view));
  }
  $('tab-lines').hidden = view !== 'lines';
  setNote('');
  const id = state.selected;
  const gen = state.gen;
  if (view === 'live') openLive(id, gen);
  else if (view === 'headtail') loadHeadTail(id, gen);
  else if (view === 'agent') loadAgent(id, gen);
  else if (view === 'screen') loadScreen(id, gen);
  else if (view === 'lines') loadLines(id, gen, options.line, options.mark !== false);
}

const stale = (id, gen) => state.selected !== id || state.gen !== gen;

async function openLive(id, gen) {
  const out = freshOutput();
  const term = new Ansi(out, (dropped) => setNote(`The page keeps the last ${fmtBytes(DOM_BUDGET)} of output (${fmtBytes(dropped)} dropped here); search or go to a line for the rest.`));
  state.term = term;
  let start = 0;
  try {
    // A cursor past the end answers with the end: start near it.
    const end = await api(`${processPath(id, 'output')}?cursor=${Number.MAX_SAFE_INTEGER}&limit=1`);
    if (end.next_cursor > LIVE_WINDOW) start = end.next_cursor - LIVE_WINDOW;
  } catch (error) {
    if (stale(id, gen)) return;
    if (error.status === 501) {
      state.noLogs = true;
      showView('headtail');
      return;
    }
    out.textContent = error.status === 404 ? 'This process is not known (forgotten, another chat\'s, or never existed).' : error.message;
    return;
  }
  if (stale(id, gen)) return;
  if (start > 0) setNote(`Showing the last ${fmtBytes(LIVE_WINDOW)} of ${fmtBytes(start + LIVE_WINDOW)}; search or go to a line for the rest.`);
  const es = new EventSource(`${processPath(id, 'stream')}?cursor=${start}`);
  state.es = es;
  es.addEventListener('output', (event) => {
    const chunk = JSON.parse(event.data);
    if (chunk.gap_bytes) term.note(`[… ${fmtBytes(chunk.gap_bytes)} no longer in the log]`);
    term.write(chunk.output);
  });
  es.addEventListener('exit', (event) => {
    es.close();
    if (state.es === es) state.es = null;
    state.exits.set(id, JSON.parse(event.data));
    term.flush();
    renderHead();
    refreshList();
  });
  es.addEventListener('error', (event) => {
    if (event.data) {
      // The server's own `error` event: reading the log failed.
      es.close();
      term.note(JSON.parse(event.data).message);
    } else if (es.readyState === EventSource.CLOSED) {
      // Refused: a session that expired (the login comes back), or a
      // process that is gone.
      checkSession().then((ok) => { if (ok && !stale(id, gen)) term.note('The output stream was refused.'); });
    }
    // Otherwise the browser reconnects by itself, resuming at Last-Event-ID.
  });
}

async function loadHeadTail(id, gen) {
  try {
    const snapshot = await api(processPath(id, 'output'));
    if (stale(id, gen)) return;
    const out = $('output');
    const follow = out.childNodes.length === 0 || atBottom(out);
    freshOutput();
    const term = new Ansi(out);
    term.queue = snapshot.output;
    term.flush();
    const cut = snapshot.truncated;
    setNote(cut
      ? `Head/tail view: the first and last 16 KiB of ${fmtBytes(cut.original_bytes)}; ${fmtBytes(cut.omitted_bytes)} omitted in the middle.${state.noLogs ? ' Full logs are off on this agentproc.' : ''}`
      : `Head/tail view: all of the output${state.noLogs ? ' (full logs are off on this agentproc)' : ''}.`);
    if (follow) scrollToEnd(out);
    if (snapshot.running) state.timer = setTimeout(() => { if (!stale(id, gen)) loadHeadTail(id, gen); }, REFRESH_EVERY_MS);
  } catch (error) {
    if (!stale(id, gen)) freshOutput().textContent = error.message;
  }
}

const MARKER = /^\[… .*\]$/;

async function loadAgent(id, gen) {
  try {
    const answer = await api(`${processPath(id, 'output')}?view=agent`);
    if (stale(id, gen)) return;
    const out = $('output');
    const follow = out.childNodes.length === 0 || atBottom(out);
    freshOutput();
    const lines = answer.output.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const fragment = document.createDocumentFragment();
    let plain = '';
    for (const line of lines) {
      if (MARKER.test(line)) {
        if (plain) { fragment.append(plain); plain = ''; }
        const marker = el('span', 'marker', line);
        const start = /[?&]start=(\d+)/.exec(line) || /lines? (\d+)/.exec(line);
        if (start) {
          marker.dataset.line = start[1];
          marker.title = `Show line ${start[1]} on`;
        }
        fragment.append(marker, '\n');
      } else {
        plain += `${line}\n`;
      }
    }
    if (plain) fragment.append(plain);
    out.append(fragment);
    const view = answer.view || {};
    setNote(`Agent view: ${view.tokens} of ${view.max_tokens} tokens (${view.tokenizer}) from ${fmtBytes(view.source_bytes)}, ${view.source_lines} lines; ${view.omitted_lines} lines folded or omitted. Click a marker to see those lines.`);
    if (follow) scrollToEnd(out);
    if (answer.running) state.timer = setTimeout(() => { if (!stale(id, gen)) loadAgent(id, gen); }, REFRESH_EVERY_MS);
  } catch (error) {
    if (!stale(id, gen)) freshOutput().textContent = error.message;
  }
}

async function loadScreen(id, gen) {
  try {
    const screen = await api(processPath(id, 'screen'));
    if (stale(id, gen)) return;
    const out = freshOutput('output screen');
    const cursor = screen.cursor;
    screen.lines.forEach((line, row) => {
      if (screen.running && cursor && cursor.visible && row === cursor.row) {
        const chars = [...line];
        while (chars.length <= cursor.col) chars.push(' ');
        out.append(chars.slice(0, cursor.col).join(''), el('span', 'screen-cursor', chars[cursor.col]), `${chars.slice(cursor.col + 1).join('')}\n`);
      } else {
        out.append(`${line}\n`);
      }
    });
    setNote(`Screen: ${screen.cols}×${screen.rows}${screen.title ? `, “${screen.title}”` : ''}${screen.alternate_screen ? ', full-screen program' : ''}${screen.awaiting_input ? `, waiting for input (${screen.input_kind})` : ''}.`);
    if (screen.running) state.timer = setTimeout(() => { if (!stale(id, gen)) loadScreen(id, gen); }, 1000);
  } catch (error) {
    if (!stale(id, gen)) freshOutput().textContent = error.message;
  }
}

const LINES_AROUND = 100;

// Lines around `target`, marked as the line asked for unless `mark` is
// false (paging through earlier or later lines).
async function loadLines(id, gen, target, mark) {
  const start = Math.max(1, target - LINES_AROUND);
  try {
    const answer = await api(`${processPath(id, 'lines')}?start=${start}&end=${target + LINES_AROUND}&strip_ansi=true&collapse_cr=true`);
    if (stale(id, gen)) return;
    const out = freshOutput();
    let targetNode = null;
    const first = answer.lines.length ? answer.lines[0].line : target;
    if (first > Math.max(1, answer.first_line)) addMore(out, id, gen, Math.max(1, first - LINES_AROUND - 1), 'Show earlier lines');
    const search = state.search;
    for (const line of answer.lines) {
      const row = el('span', 'line');
      row.append(el('span', 'lnum', String(line.line)), ' ');
      const marked = search && (search.regex || line.line === target);
      row.append(marked ? highlighted(line.text, search.regex) : line.text);
      row.append('\n');
      if (line.line === target) { targetNode = row; }
      out.append(row);
    }
    const last = answer.lines.length ? answer.lines[answer.lines.length - 1].line : target;
    if (last < answer.total_lines) addMore(out, id, gen, last + 1 + LINES_AROUND, 'Show later lines');
    if (!mark) {
      setNote(`Lines ${first}–${last} of ${answer.total_lines}.`);
      if (targetNode) targetNode.scrollIntoView({ block: 'center' });
    } else if (!targetNode) {
      setNote(target > answer.total_lines
        ? `Line ${target} does not exist yet: the output has ${answer.total_lines} lines.`
        : `Line ${target} is no longer in the log: the first line kept is ${answer.first_line}.`);
    } else {
      setNote(`Lines ${first}–${last} of ${answer.total_lines}; line ${target} is marked.`);
      targetNode.classList.add('target');
      targetNode.scrollIntoView({ block: 'center' });
    }
  } catch (error) {
    if (!stale(id, gen)) freshOutput().textContent = error.message;
  }
}

function addMore(out, id, gen, line, label) {
  const button = el('button', 'quiet', label);
  button.type = 'button';
  button.addEventListener('click', () => { if (!stale(id, gen)) showView('lines', { line, mark: false }); });
  out.append(button, '\n');
}

function gotoLine(line) {
  if (!state.selected || !(line >= 1)) return;
  showView('lines', { line });
}

// ---------------------------------------------------------------- actions

async function sendSignal(signal) {
  const p = current();
  if (!p || !p.running) return;
  if (signal === 'kill') {
    const ok = await confirmDialog(`Send SIGKILL to “${firstLine(p.command)}” and everything in its process group? It cannot clean up.`);
    if (!ok) return;
  }
  try {
    const answer = await api(processPath(p.id, 'signal'), { method: 'POST', body: { signal } });
    showToast(answer.message);
  } catch (error) {
    showToast(error.message, true);
  }
  refreshList();
}

function confirmDialog(text) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  $('confirm-ok').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

async function startCommand(event) {
  event.preventDefault();
  const command = $('start-command').value;
  if (!command.trim()) return;
  const body = { command, background: $('start-background').checked };
  const workdir = $('start-workdir').value.trim();
  if (workdir) body.workdir = workdir;
  const timeout = Number.parseFloat($('start-timeout').value);
  if (timeout > 0) body.timeout_ms = Math.round(timeout * 1000);
  if ($('start-tty').checked) body.tty = true;
  if ($('start-stdin').checked) body.stdin = true;
  $('start-error').textContent = '';
  $('start-submit').disabled = true;
  try {
    const answer = await api(`${API}/start`, { method: 'POST', body });
    if (body.stdin) state.stdin.add(answer.id);
    // Shown at once, until the next list has it.
    state.byId.set(answer.id, {
      id: answer.id,
      command,
      workdir,
      background: body.background,
      running: true,
      started_at_unix: answer.started_at_unix,
      pid: answer.pid,
      timeout_ms: body.timeout_ms,
      tty: body.tty ? { rows: 24, cols: 80 } : undefined,
    });
    $('start-command').value = '';
    location.hash = `#/p/${answer.id}`;
    refreshList();
  } catch (error) {
    $('start-error').textContent = error.detail ? `${error.message} ${error.detail}` : error.message;
  } finally {
    $('start-submit').disabled = false;
  }
}

async function sendInput(event) {
  event.preventDefault();
  const p = current();
  if (!p) return;
  const text = $('input-text').value;
  const body = p.tty ? { text, keys: ['Enter'] } : { text: `${text}\n` };
  try {
    await api(processPath(p.id, 'input'), { method: 'POST', body });
    $('input-text').value = '';
  } catch (error) {
    showToast(error.message, true);
  }
}

async function sendEof() {
  const p = current();
  if (!p) return;
  try {
    await api(processPath(p.id, 'input'), { method: 'POST', body: { eof: true } });
  } catch (error) {
    showToast(error.message, true);
  }
}

async function search(event) {
  event.preventDefault();
  const id = state.selected;
  const pattern = $('search-pattern').value;
  if (!id || !pattern) return;
  const ignoreCase = $('search-icase').checked;
  const query = new URLSearchParams({ pattern, max_matches: '500', strip_ansi: 'true', collapse_cr: 'true' });
  if (ignoreCase) query.set('ignore_case', 'true');
  const panel = $('search-results');
  const list = $('search-list');
  try {
    const answer = await api(`${processPath(id, 'search')}?${query}`);
    if (state.selected !== id) return;
    const regex = jsRegex(pattern, ignoreCase);
    state.search = { regex };
    list.replaceChildren();
    for (const match of answer.matches) {
      const item = el('li');
      const button = el('button');
      button.type = 'button';
      button.dataset.line = match.line;
      button.title = `Show line ${match.line} in context`;
      button.append(el('span', 'lnum', String(match.line)), highlighted(match.text, regex));
      item.append(button);
      list.append(item);
    }
    const count = answer.matches.length;
    $('search-summary').textContent = `${count}${answer.limit_hit ? '+' : ''} match${count === 1 ? '' : 'es'} in ${fmtBytes(answer.scanned_bytes)}${answer.first_offset ? ` (the first ${fmtBytes(answer.first_offset)} are no longer in the log)` : ''}`;
    panel.hidden = false;
  } catch (error) {
    $('search-summary').textContent = error.detail ? `${error.message} ${error.detail}` : error.message;
    list.replaceChildren();
    panel.hidden = false;
  }
}

// ---------------------------------------------------------------- health

// One line for an isolation policy: "workspace", or what an object allows
// (the denied paths are counted; the process's JSON lists them).
function describeIsolation(policy) {
  if (!policy) return '';
  if (typeof policy === 'string') return policy;
  const parts = [];
  if (policy.network) parts.push(`network ${policy.network}`);
  // An empty write list means the working directory (and a private /tmp).
  if (policy.write) parts.push(`write ${policy.write.length ? policy.write.join(', ') : 'the working directory'}`);
  if (policy.read) parts.push(`read ${Array.isArray(policy.read) ? policy.read.join(', ') : policy.read}`);
  if (policy.deny && policy.deny.length) parts.push(`${policy.deny.length} denied`);
  if (policy.mechanisms && policy.mechanisms.length) parts.push(`by ${policy.mechanisms.join(', ')}`);
  return parts.join('; ');
}

async function refreshHealth() {
  const summary = $('health-summary');
  try {
    const response = await fetch('/healthz', { cache: 'no-store' });
    const h = await response.json();
    const e = h.executor;
    summary.textContent = `v${h.version} · ${e.kind}${e.cgroups ? ` (${e.cgroups})` : ''} · up ${fmtDuration(h.uptime_seconds * 1000)} · ${h.running} running, ${h.retained} kept`;
    summary.classList.remove('error');
    const body = $('health-body');
    body.replaceChildren();
    const add = (label, value, cls) => {
      if (value === undefined || value === null || value === '') return;
      body.append(el('dt', '', label), el('dd', cls, value));
    };
    const limits = (l) => l && Object.entries(l).map(([k, v]) => `${k} ${k.endsWith('bytes') ? fmtBytes(v) : v}`).join(', ');
    add('Version', `${h.version} (${h.revision})`);
    add('Uptime', fmtDuration(h.uptime_seconds * 1000));
    add('Processes', `${h.running} running, ${h.retained} kept`);
    add('Executor', e.kind);
    add('Cgroups', e.cgroups);
    add('Enforceable limits', e.enforceable_limits.length ? e.enforceable_limits.join(', ') : 'none');
    add('Default limits', limits(e.default_limits));
    add('Maximum limits', limits(e.max_limits));
    const iso = e.isolation;
    if (iso) {
      if (iso.unavailable) add('Isolation', `unavailable: ${iso.unavailable}`, 'warning');
      else add('Isolation', iso.mechanisms.join(', '));
      add('Isolation default', describeIsolation(iso.default));
      add('Isolation minimum', describeIsolation(iso.minimum));
    }
    for (const [key, value] of Object.entries(e.settings || {})) add(key, value);
    for (const warning of e.warnings || []) add('Warning', warning, 'warning');
  } catch (_) {
    summary.textContent = 'agentproc cannot be reached';
    summary.classList.add('error');
  }
  setTimeout(refreshHealth, HEALTH_EVERY_MS);
}

// ---------------------------------------------------------------- session

async function checkSession() {
  try {
    const session = await api('/api/ui/session', { quiet401: true });
    $('logout').hidden = !(session.token_required && session.authenticated);
    if (!session.authenticated) { needLogin(); return false; }
    return true;
  } catch (error) {
    showToast(error.message, true);
    return false;
  }
}

function needLogin() {
  if (state.loginShown) return;
  state.loginShown = true;
  clearTimeout(state.listTimer);
  closeView();
  $('login-error').textContent = '';
  $('login-dialog').showModal();
  $('login-token').focus();
}

async function login(event) {
  event.preventDefault();
  const token = $('login-token').value;
  $('login-submit').disabled = true;
  try {
    await api('/api/ui/login', { method: 'POST', body: { token }, quiet401: true });
  } catch (error) {
    $('login-error').textContent = error.status === 401 ? 'That is not the token.' : error.message;
    return;
  } finally {
    $('login-submit').disabled = false;
  }
  $('login-token').value = '';
  $('login-dialog').close();
  state.loginShown = false;
  $('logout').hidden = false;
  refreshList();
  state.selected = null;
  route();
}

async function logout() {
  try { await api('/api/ui/logout', { method: 'POST', quiet401: true }); } catch (_) { /* logged out anyway */ }
  $('logout').hidden = true;
  needLogin();
}

// ---------------------------------------------------------------- toast

let toastTimer = null;
function showToast(text, bad = false) {
  const toast = $('toast');
  toast.textContent = text;
  toast.classList.toggle('bad', bad);
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, bad ? 8000 : 4000);
}

// ---------------------------------------------------------------- wiring

function wire() {
  window.addEventListener('hashchange', route);
  $('start-form').addEventListener('submit', startCommand);
  $('start-command').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('start-form').requestSubmit(); }
  });
  $('chat-filter').addEventListener('change', (event) => setChat(event.target.value));
  for (const button of document.querySelectorAll('.signals button')) {
    button.addEventListener('click', () => sendSignal(button.dataset.signal));
  }
  for (const tab of document.querySelectorAll('.tabs [data-view]')) {
    tab.addEventListener('click', () => { if (state.selected && tab.dataset.view !== 'lines') showView(tab.dataset.view); });
  }
  $('search-form').addEventListener('submit', search);
  $('search-close').addEventListener('click', () => { $('search-results').hidden = true; state.search = null; });
  $('search-list').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-line]');
    if (button) gotoLine(Number(button.dataset.line));
  });
  $('goto-form').addEventListener('submit', (event) => {
    event.preventDefault();
    gotoLine(Number.parseInt($('goto-line').value, 10));
  });
  $('output').addEventListener('click', (event) => {
    const marker = event.target.closest('.marker[data-line]');
    if (marker) gotoLine(Number(marker.dataset.line));
  });
  $('output').addEventListener('scroll', () => {
    if (state.view === 'live') $('follow').hidden = atBottom($('output'));
  });
  $('follow').addEventListener('click', () => { scrollToEnd($('output')); $('follow').hidden = true; });
  $('input-form').addEventListener('submit', sendInput);
  $('input-eof').addEventListener('click', sendEof);
  $('login-form').addEventListener('submit', login);
  $('login-dialog').addEventListener('cancel', (event) => event.preventDefault());
  $('logout').addEventListener('click', logout);
  document.addEventListener('visibilitychange', () => { if (!document.hidden && !state.loginShown) refreshList(); });
  setInterval(tick, 1000);
}

async function main() {
  wire();
  refreshHealth();
  if (await checkSession()) {
    route();
    refreshList();
  }
}

main();
