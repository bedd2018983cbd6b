/**
 * The UI's browser script, as text (it ships inside dist, which is all the image holds). Plain
 * ES2020, no framework. It keeps the token in sessionStorage (never the URL), sends it as
 * X-Dispatch-Token, and reads `GET /runs/:id/stream` with fetch (EventSource cannot send headers),
 * resuming with Last-Event-ID after a dropped connection. No template literals inside: this file
 * is a String.raw template itself.
 */
export const CLIENT_JS = String.raw`
'use strict';
(function () {
  var TOKEN_KEY = 'codex-dispatcher.token';
  var FINAL = ['succeeded', 'failed', 'canceled'];
  var token = sessionStorage.getItem(TOKEN_KEY) || '';
  var view = null; // {stop(): void}
  var main = document.getElementById('main');

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return node;
  }

  function ago(iso) {
    if (!iso) return '';
    return span((Date.now() - Date.parse(iso)) / 1000) + ' ago';
  }
  function span(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }
  function duration(run) {
    if (!run.started_at) return '';
    var end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
    return span((end - Date.parse(run.started_at)) / 1000);
  }
  function badge(status) { return el('span', { class: 'status status-' + status, 'data-status': status, text: status }); }

  function showError(message) {
    var bar = document.getElementById('error');
    bar.textContent = message || '';
    bar.hidden = !message;
  }

  async function api(path, init) {
    init = init || {};
    var headers = Object.assign({ 'X-Dispatch-Token': token, Accept: 'application/json' }, init.headers || {});
    var res = await fetch(path, Object.assign({}, init, { headers: headers }));
    if (res.status === 401) {
      askToken('The server did not accept the token.');
      throw new Error('unauthorized');
    }
    return res;
  }
  async function json(path, init) {
    var res = await api(path, init);
    var body = await res.json();
    if (!res.ok) throw new Error(body && body.error ? body.error.message : 'HTTP ' + res.status);
    return body;
  }

  // Token entry: a form whose submit never navigates, so the token never reaches a URL or history.
  function askToken(message) {
    var dialog = document.getElementById('token-dialog');
    document.getElementById('token-message').textContent = message || '';
    dialog.hidden = false;
    document.getElementById('token-input').focus();
  }
  document.getElementById('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var input = document.getElementById('token-input');
    token = input.value.trim();
    input.value = '';
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    document.getElementById('token-dialog').hidden = true;
    route();
  });
  document.getElementById('forget-token').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    if (view) view.stop();
    main.replaceChildren();
    askToken('Token forgotten.');
  });

  // List of runs, refreshed every 2 s.
  function listView(status) {
    var timer = null;
    var stopped = false;
    var filters = el('nav', { class: 'filters' }, ['all', 'queued', 'running', 'succeeded', 'failed', 'canceled'].map(function (s) {
      return el('a', { href: s === 'all' ? '#/' : '#/?status=' + s, class: (status || 'all') === s ? 'active' : '', text: s });
    }));
    var tbody = el('tbody', { id: 'runs-body' });
    var table = el('table', { id: 'runs' }, [
      el('thead', {}, [el('tr', {}, ['status', 'run', 'prompt', 'state key', 'queued', 'duration', 'links'].map(function (h) { return el('th', { text: h }); }))]),
      tbody,
    ]);
    main.replaceChildren(el('h2', { text: 'Runs' }), filters, table);
    async function refresh() {
      try {
        var page = await json('/runs?limit=100' + (status ? '&status=' + encodeURIComponent(status) : ''));
        if (stopped) return;
        showError('');
        tbody.replaceChildren.apply(tbody, page.runs.map(function (r) {
          return el('tr', { 'data-run-id': r.run_id }, [
            el('td', {}, [badge(r.status)]),
            el('td', {}, [el('a', { href: '#/runs/' + r.run_id, class: 'run-link', text: r.run_id.slice(0, 8) })]),
            el('td', { class: 'prompt', text: String(r.request.prompt || '').slice(0, 120) }),
            el('td', { text: r.state_key }),
            el('td', { title: r.queued_at, text: ago(r.queued_at) }),
            el('td', { text: duration(r) }),
            el('td', { class: 'links' }, [
              el('a', { href: '#/runs/' + r.run_id, text: 'live' }),
            ]),
          ]);
        }));
        if (page.runs.length === 0) tbody.replaceChildren(el('tr', {}, [el('td', { colspan: '7', class: 'muted', text: 'No runs yet.' })]));
      } catch (err) {
        if (!stopped && err.message !== 'unauthorized') showError('Could not load runs: ' + err.message);
      }
      if (!stopped) timer = setTimeout(refresh, 2000);
    }
    refresh();
    return { stop: function () { stopped = true; clearTimeout(timer); } };
  }

  // One run: header, cancel button, readable activity and the raw log, streamed live.
  function runView(id) {
    var stopped = false;
    var abort = new AbortController();
    var lastId = null;
    var ended = false;
    var run = null;
    var recordTimer = null;
    var commands = {}; // Codex item id or runner "phase/index" -> element
    var statusEl = el('span', { id: 'run-status' });
    var meta = el('dl', { class: 'meta' });
    var cancel = el('button', { id: 'cancel', type: 'button', text: 'Cancel run' });
    var activity = el('div', { id: 'activity', class: 'activity' });
    var raw = el('pre', { id: 'raw-log', class: 'raw' });
    var streamState = el('span', { id: 'stream-state', class: 'muted' });
    main.replaceChildren(
      el('p', {}, [el('a', { href: '#/', text: '← all runs' })]),
      el('h2', {}, ['Run ', el('code', { text: id }), ' ', statusEl, ' ', cancel]),
      meta,
      el('section', { class: 'panes' }, [
        el('div', {}, [el('h3', { text: 'Activity' }), activity]),
        el('div', {}, [el('h3', {}, ['Log ', streamState]), raw]),
      ]),
    );
    cancel.addEventListener('click', async function () {
      cancel.disabled = true;
      try {
        var rec = await json('/runs/' + id + '/cancel', { method: 'POST' });
        showRecord(rec);
      } catch (err) {
        showError('Cancel failed: ' + err.message);
        cancel.disabled = false;
      }
    });

    function showRecord(r) {
      run = r;
      statusEl.replaceChildren(badge(r.status));
      cancel.disabled = FINAL.indexOf(r.status) >= 0;
      cancel.hidden = FINAL.indexOf(r.status) >= 0;
      var rows = [
        ['prompt', r.request.prompt],
        ['state key', r.state_key],
        ['queued', ago(r.queued_at)],
        ['duration', duration(r)],
        ['reason', r.reason && (r.reason + (r.message ? ': ' + r.message : ''))],
        ['summary', r.summary],
        ['thread', r.thread_id],
        ['usage', r.usage && (r.usage.input_tokens + ' in / ' + r.usage.output_tokens + ' out tokens')],
      ];
      meta.replaceChildren.apply(meta, rows.filter(function (x) { return x[1]; }).flatMap(function (x) {
        return [el('dt', { text: x[0] }), el('dd', { text: String(x[1]) })];
      }));
    }
    async function refreshRecord() {
      try { showRecord(await json('/runs/' + id + '/record')); } catch (err) { if (err.message !== 'unauthorized') showError(err.message); }
      if (!stopped && (!run || FINAL.indexOf(run.status) < 0)) recordTimer = setTimeout(refreshRecord, 2000);
    }

    function add(kind, label, body) {
      var node = el('div', { class: 'entry entry-' + kind }, [el('div', { class: 'label', text: label })].concat(body || []));
      activity.appendChild(node);
      return node;
    }
    function commandEntry(key, command, label) {
      var out = el('pre', { class: 'output' });
      var exit = el('span', { class: 'exit' });
      var node = add('command', label, [el('code', { class: 'cmd', text: '$ ' + command }), exit, out]);
      commands[key] = { node: node, out: out, exit: exit };
      return commands[key];
    }
    function finishCommand(c, code) {
      if (code === null || code === undefined) return;
      c.exit.textContent = 'exit ' + code;
      c.exit.className = 'exit ' + (code === 0 ? 'ok' : 'bad');
    }
    function onEvent(ev) {
      var t = ev.type || '';
      var item = ev.item;
      if ((t === 'item.started' || t === 'item.updated' || t === 'item.completed') && item) {
        if (item.type === 'agent_message' && t === 'item.completed') add('agent', 'Agent', [el('p', { text: item.text })]);
        else if (item.type === 'reasoning' && t === 'item.completed') add('reasoning', 'Thinking', [el('p', { text: item.text })]);
        else if (item.type === 'command_execution') {
          var c = commands[item.id] || commandEntry(item.id, item.command, 'Command');
          if (item.aggregated_output) c.out.textContent = item.aggregated_output;
          finishCommand(c, item.exit_code);
        } else if (item.type === 'file_change' && t === 'item.completed') {
          add('files', 'Files changed', [el('ul', {}, (item.changes || []).map(function (ch) {
            return el('li', {}, [el('span', { class: 'kind kind-' + ch.kind, text: ch.kind }), ' ', el('code', { text: ch.path })]);
          }))]);
        } else if (item.type === 'todo_list' && t !== 'item.started') {
          add('todo', 'Plan', [el('ul', {}, (item.items || []).map(function (x) { return el('li', { text: (x.completed ? '☑ ' : '☐ ') + x.text }); }))]);
        } else if (item.type === 'error' && t === 'item.completed') {
          add('warning', 'Codex warning', [el('p', { text: item.message })]);
        } else if (t === 'item.completed' && item.type !== 'agent_message' && item.type !== 'reasoning') {
          add('other', item.type, [el('code', { text: JSON.stringify(item).slice(0, 400) })]);
        }
      } else if (t === 'thread.started') add('system', 'Codex thread ' + ev.thread_id);
      else if (t === 'turn.completed' && ev.usage) add('system', 'Turn done: ' + ev.usage.input_tokens + ' in / ' + ev.usage.output_tokens + ' out tokens');
      else if (t === 'turn.failed' || t === 'error' || t === 'runner.error') add('error', 'Error', [el('p', { text: (ev.error && ev.error.message) || ev.message || JSON.stringify(ev) })]);
      else if (t === 'runner.command.started') commandEntry(ev.phase + '/' + ev.index, ev.command, ev.phase + '-command');
      else if (t === 'runner.command.output') {
        var pc = commands[ev.phase + '/' + ev.index];
        if (pc) pc.out.textContent += ev.line + '\n';
      } else if (t === 'runner.command.finished') {
        var fc = commands[ev.phase + '/' + ev.index];
        if (fc) finishCommand(fc, ev.exit_code);
      } else if (t === 'runner.git.cloned') add('system', 'Cloned ' + ev.branch + ' (from ' + ev.base + ') at ' + String(ev.commit).slice(0, 10));
      else if (t === 'runner.git.pushed') add('system', 'Pushed ' + ev.branch + ' at ' + String(ev.commit).slice(0, 10));
      else if (t === 'runner.codex.started') add('system', 'Codex started');
      else if (t === 'runner.codex.exited') add('system', 'Codex exited with code ' + ev.exit_code);
      else if (t === 'dispatcher.run.finished') add(ev.status === 'succeeded' ? 'system' : 'error', 'Run ' + ev.status + (ev.reason ? ' (' + ev.reason + ')' : ''), ev.message ? [el('p', { text: ev.message })] : []);
    }
    function onMessage(event, data, id) {
      if (id !== null) lastId = id;
      if (event === 'end') {
        ended = true;
        streamState.textContent = 'ended';
        refreshRecord();
        return;
      }
      raw.appendChild(document.createTextNode(data + '\n'));
      if (event === 'event') {
        try { onEvent(JSON.parse(data)); } catch (err) { /* a line the UI does not know how to show */ }
      }
    }

    // A minimal text/event-stream parser (https://html.spec.whatwg.org/multipage/server-sent-events.html).
    async function stream() {
      while (!stopped && !ended) {
        try {
          var headers = lastId !== null ? { 'Last-Event-ID': lastId, Accept: 'text/event-stream' } : { Accept: 'text/event-stream' };
          var res = await api('/runs/' + id + '/stream', { headers: headers, signal: abort.signal });
          if (!res.ok) throw new Error('HTTP ' + res.status);
          streamState.textContent = 'live';
          var reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          var buf = '';
          var event = 'message', data = [], evId = null;
          for (;;) {
            var chunk = await reader.read();
            if (chunk.done) break;
            buf += chunk.value;
            var nl;
            while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
              var line = buf.slice(0, nl);
              buf = buf.slice(buf[nl] === '\r' && buf[nl + 1] === '\n' ? nl + 2 : nl + 1);
              if (line === '') {
                if (data.length) onMessage(event, data.join('\n'), evId);
                event = 'message'; data = []; evId = null;
              } else if (line[0] !== ':') {
                var colon = line.indexOf(':');
                var field = colon < 0 ? line : line.slice(0, colon);
                var value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
                if (field === 'event') event = value;
                else if (field === 'data') data.push(value);
                else if (field === 'id') evId = value;
              }
            }
          }
        } catch (err) {
          if (stopped || err.message === 'unauthorized') return;
        }
        if (!ended && !stopped) {
          streamState.textContent = 'reconnecting…';
          await new Promise(function (r) { setTimeout(r, 1000); });
        }
      }
    }
    refreshRecord();
    stream();
    return { stop: function () { stopped = true; abort.abort(); clearTimeout(recordTimer); } };
  }

  function route() {
    if (view) view.stop();
    view = null;
    showError('');
    if (!token) { askToken('Enter the dispatch token to see runs.'); return; }
    var hash = location.hash || '#/';
    var m = /^#\/runs\/([0-9a-fA-F-]{36})$/.exec(hash);
    if (m) view = runView(m[1]);
    else view = listView((/[?&]status=([a-z]+)/.exec(hash) || [])[1]);
  }
  window.addEventListener('hashchange', route);
  route();
})();
`
