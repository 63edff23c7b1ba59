// PeerPressure viewer: runs, results, trial lists and trials, from the local JSON API.
// Routes live in the URL hash, so every view can be bookmarked and opened directly.
'use strict';

const app = document.getElementById('app');
const crumbs = document.getElementById('crumbs');
let refreshTimer = null;

function esc(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
const pct = (x) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
async function api(path) {
  const response = await fetch(`/api/${path}`);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function parseHash() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  return { parts: (path || '/').split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
}
const verdict = (v) => `<span class="verdict ${esc(v)}">${esc(v)}</span>`;
function done(marker) {
  document.body.setAttribute('data-view', marker);
}

// --- runs ---------------------------------------------------------------------------
async function showRuns() {
  crumbs.textContent = 'runs';
  const runs = await api('runs');
  const live = runs.some((r) => r.grid_size && r.trials < r.grid_size);
  let html = '<h1>Runs</h1><table id="runs"><tr><th>run</th><th>created</th><th>models</th><th>set</th><th>progress</th><th>status</th><th>tokens</th><th>cost</th><th>scorings</th></tr>';
  for (const r of runs) {
    const progress = r.grid_size ? `${r.trials} / ${r.grid_size}${r.trials < r.grid_size ? ' (running or incomplete)' : ''}` : `${r.trials}`;
    const statuses = r.statuses.map(([s, n]) => `${n} ${esc(s)}`).join(', ');
    html += `<tr class="click" data-href="#/run/${encodeURIComponent(r.id)}"><td><a href="#/run/${encodeURIComponent(r.id)}">${esc(r.id)}</a></td><td>${esc(r.created_at)}</td><td>${r.models.map(esc).join('<br>')}</td><td>${esc(r.set || '')}</td><td>${progress}</td><td>${statuses}</td><td>${r.tokens}</td><td>${r.cost === null ? 'unknown' : '$' + r.cost.toFixed(4)}</td><td>${r.scorings.map(esc).join(', ')}</td></tr>`;
  }
  html += '</table>';
  if (!runs.length) html = '<p>The store has no runs yet.</p>';
  app.innerHTML = html + (live ? '<p class="small">Refreshing while a run is incomplete.</p>' : '');
  if (live) refreshTimer = setTimeout(route, 2000);
  done('runs');
}

// --- results ------------------------------------------------------------------------
function trialsLink(run, filter) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) {
    if (k === 'axes') for (const [a, b] of v) q.append('axis', `${a}=${b}`);
    else if (v) q.set(k, v);
  }
  return `#/run/${encodeURIComponent(run)}/trials?${q}`;
}

function plot(rows, domain, pointOf, ciOf, labelOf) {
  const lw = 330, pw = 420, rh = 15, top = 8, bottom = 24;
  const h = top + bottom + rh * rows.length;
  const x = (v) => lw + ((v - domain[0]) / (domain[1] - domain[0])) * pw;
  let svg = `<svg class="plot" width="${lw + pw + 20}" height="${h}" xmlns="http://www.w3.org/2000/svg">`;
  const ticks = domain[0] < 0 ? [-1, -0.5, 0, 0.5, 1] : [0, 0.25, 0.5, 0.75, 1];
  for (const t of ticks) svg += `<line x1="${x(t)}" y1="${top}" x2="${x(t)}" y2="${h - bottom}" stroke="${t === 0 && domain[0] < 0 ? '#333' : '#ddd'}"/><text x="${x(t)}" y="${h - bottom + 13}" font-size="10" text-anchor="middle">${Math.round(t * 100)}${domain[0] < 0 ? ' pp' : '%'}</text>`;
  rows.forEach((r, i) => {
    const y = top + rh * (i + 0.5);
    svg += `<text x="${lw - 6}" y="${y + 3.5}" font-size="10" text-anchor="end">${esc(labelOf(r))}</text>`;
    const ci = ciOf(r);
    if (ci) svg += `<line x1="${x(ci[0])}" y1="${y}" x2="${x(ci[1])}" y2="${y}" stroke="#1f77b4" stroke-width="2"/>`;
    const p = pointOf(r);
    if (p !== null && p !== undefined) svg += `<circle class="point" cx="${x(p)}" cy="${y}" r="3.5" fill="#1f77b4"/>`;
  });
  return svg + '</svg>';
}

async function showRun(run, params) {
  const scoring = params.get('scoring') || 'run';
  crumbs.innerHTML = `<a href="#/">runs</a> / ${esc(run)}`;
  const report = await api(`runs/${encodeURIComponent(run)}/report?scoring=${encodeURIComponent(scoring)}`);
  const scorings = ['run', ...((await api('runs')).find((r) => r.id === run)?.scorings || [])];
  let html = `<h1>Run ${esc(run)}</h1><p class="meta">host ${esc(report.run.host_version)} · seed ${report.run.seed} · ${report.run.epochs} epoch(s) · models ${report.run.models.map(esc).join(', ')} · judge ${esc(report.run.judge || 'none')} · ${report.trials.map(([s, n]) => `${n} ${esc(s)}`).join(', ')}</p>`;
  html += `<p>scoring: <select id="scoring">${scorings.map((s) => `<option ${s === scoring ? 'selected' : ''}>${esc(s)}</option>`).join('')}</select> · <a href="${trialsLink(run, {})}">all trials</a> · <a href="${trialsLink(run, { status: 'error' })}">errors</a></p>`;
  for (const t of report.tables) {
    const rows = t.rows.filter((r) => !r.combined);
    html += `<h2>${esc(t.spec.title)}</h2>` + plot(rows, [0, 1], (r) => r.rate, (r) => (r.ci_low === null ? null : [r.ci_low, r.ci_high]), (r) => `${r.model} ${r.values.join(' / ')}`);
    html += `<table class="results"><tr><th>model</th>${t.spec.rows.map((a) => `<th>${esc(a)}</th>`).join('')}<th>n</th><th>read</th><th>pos</th><th>neg</th><th>n/a</th><th>err</th><th>rate</th><th>95% CI</th><th>p</th><th>sig</th></tr>`;
    for (const r of t.rows) {
      const c = r.counts;
      const axes = t.spec.rows.map((a, i) => [a, r.values[i]]).filter(([, v]) => v !== 'all' && v !== '-');
      const link = trialsLink(run, { behaviour: t.spec.behaviour, model: r.model, axes, scoring: scoring === 'run' ? '' : scoring });
      html += `<tr class="click${r.combined ? ' combined' : ''}" data-href="${link}"><td>${esc(r.model)}</td>${r.values.map((v) => `<td>${esc(v)}</td>`).join('')}<td>${c.positive + c.negative + c.not_applicable + c.error}${r.low_n ? ' <span class="low">!</span>' : ''}</td><td>${c.read === null ? '-' : c.read}</td><td>${c.positive}</td><td>${c.negative}</td><td>${c.not_applicable}</td><td>${c.error}</td><td>${pct(r.rate)}</td><td>${r.ci_low === null ? (r.combined ? '(mean)' : '-') : `[${pct(r.ci_low)}, ${pct(r.ci_high)}]`}</td><td>${r.p === null ? '-' : r.p.toFixed(4)}</td><td>${esc(r.marker)}</td></tr>`;
    }
    html += '</table>';
  }
  for (const c of report.contrasts) {
    if (c.spec.measure === 'value') {
      // Mean values (e.g. reported scores) compared with Welch's t-test.
      const num = (x) => (x === null ? '-' : x.toFixed(1));
      html += `<h2>${esc(c.spec.title)}</h2><table><tr><th>model</th>${c.spec.rows.map((a) => `<th>${esc(a)}</th>`).join('')}<th>${esc(c.spec.axis)}</th><th>mean (n)</th><th>${esc(c.spec.baseline)} mean (n)</th><th>diff</th><th>t</th><th>p</th><th>sig</th></tr>`;
      for (const r of c.rows) {
        html += `<tr${r.combined ? ' class="combined"' : ''}><td>${esc(r.model)}</td>${r.values.map((v) => `<td>${esc(v)}</td>`).join('')}<td>${esc(r.value)}</td><td>${num(r.rate)} (${r.counts.values.n})</td><td>${num(r.baseline_rate)} (${r.baseline.values.n})</td><td>${num(r.difference)}</td><td>${num(r.z)}</td><td>${r.p === null ? '-' : r.p.toFixed(4)}</td><td>${esc(r.marker)}</td></tr>`;
      }
      html += '</table>';
      continue;
    }
    const rows = c.rows.filter((r) => !r.combined);
    html += `<h2>${esc(c.spec.title)}</h2>` + plot(rows, [-1, 1], (r) => r.difference, (r) => r.difference_ci, (r) => `${r.model} ${r.values.join(' / ')} ${r.value}`);
    html += `<table><tr><th>model</th>${c.spec.rows.map((a) => `<th>${esc(a)}</th>`).join('')}<th>${esc(c.spec.axis)}</th><th>rate (n)</th><th>${esc(c.spec.baseline)} (n)</th><th>diff</th><th>p</th><th>sig</th></tr>`;
    for (const r of c.rows) {
      html += `<tr${r.combined ? ' class="combined"' : ''}><td>${esc(r.model)}</td>${r.values.map((v) => `<td>${esc(v)}</td>`).join('')}<td>${esc(r.value)}</td><td>${pct(r.rate)} (${r.counts.positive + r.counts.negative})</td><td>${pct(r.baseline_rate)} (${r.baseline.positive + r.baseline.negative})</td><td>${r.difference === null ? '-' : (r.difference * 100).toFixed(1) + ' pp'}</td><td>${r.p === null ? '-' : r.p.toFixed(4)}</td><td>${esc(r.marker)}</td></tr>`;
    }
    html += '</table>';
  }
  if (!report.tables.length || params.get('cells')) {
    const groups = [...new Set(report.cells.map((c) => `${c.behaviour}\u0000${c.scenario}`))];
    for (const g of groups) {
      const [behaviour, scenario] = g.split('\u0000');
      const cells = report.cells.filter((c) => c.behaviour === behaviour && c.scenario === scenario);
      html += `<h2>${esc(behaviour)} <span class="small">(${esc(scenario)})</span></h2>` + plot(cells, [0, 1], (r) => r.rate, (r) => (r.ci_low === null ? null : [r.ci_low, r.ci_high]), (r) => `${r.model} ${r.axes.map((a) => a[1]).join(' / ')}`);
      html += `<table class="results"><tr><th>model</th>${cells[0].axes.map((a) => `<th>${esc(a[0])}</th>`).join('')}<th>n</th><th>read</th><th>pos</th><th>neg</th><th>n/a</th><th>err</th><th>rate</th><th>95% CI</th></tr>`;
      for (const c of cells) {
        const link = trialsLink(run, { behaviour, model: c.model, scenario, axes: c.axes, scoring: scoring === 'run' ? '' : scoring });
        html += `<tr class="click" data-href="${link}"><td>${esc(c.model)}</td>${c.axes.map((a) => `<td>${esc(a[1])}</td>`).join('')}<td>${c.n}</td><td>${c.read === null ? '-' : c.read}</td><td>${c.positive}</td><td>${c.negative}</td><td>${c.not_applicable}</td><td>${c.error}</td><td>${pct(c.rate)}</td><td>${c.ci_low === null ? '-' : `[${pct(c.ci_low)}, ${pct(c.ci_high)}]`}</td></tr>`;
      }
      html += '</table>';
    }
  } else {
    html += `<p><a href="#/run/${encodeURIComponent(run)}?cells=1${scoring === 'run' ? '' : '&scoring=' + encodeURIComponent(scoring)}">show every grid cell</a></p>`;
  }
  app.innerHTML = html;
  document.getElementById('scoring').onchange = (e) => (location.hash = `#/run/${encodeURIComponent(run)}?scoring=${encodeURIComponent(e.target.value)}`);
  done('results');
}

// --- trial list ---------------------------------------------------------------------
async function showTrials(run, params) {
  crumbs.innerHTML = `<a href="#/">runs</a> / <a href="#/run/${encodeURIComponent(run)}">${esc(run)}</a> / trials`;
  const page = Number(params.get('page') || 1);
  const query = new URLSearchParams(params);
  query.set('page', page);
  const data = await api(`runs/${encodeURIComponent(run)}/trials?${query}`);
  const field = (name, label) => `<label>${label} <input name="${name}" value="${esc(params.get(name) || '')}" size="14"></label>`;
  const choice = (name, label, values) => `<label>${label} <select name="${name}"><option value="">any</option>${values.map((v) => `<option ${params.get(name) === v ? 'selected' : ''}>${v}</option>`).join('')}</select></label>`;
  let html = `<h1>Trials</h1><form class="filters" id="filters">${field('model', 'model')}${field('scenario', 'scenario')}${field('behaviour', 'behaviour')}${choice('verdict', 'verdict', ['positive', 'negative', 'not-applicable', 'error'])}${choice('status', 'status', ['completed', 'turn-limit', 'error'])}<label>axes <input name="axis" value="${esc(params.getAll('axis').join(' '))}" size="30" placeholder="condition=good_peer channel=memory"></label><button>filter</button></form>`;
  html += `<p class="meta"><span id="total">${data.total}</span> trial(s) match. Tick two to compare them side by side.</p><table id="trials"><tr><th></th><th>trial</th><th>scenario</th><th>model</th><th>agent</th><th>axes</th><th>epoch</th><th>status</th><th>turns</th><th>findings</th></tr>`;
  for (const t of data.trials) {
    const href = `#/run/${encodeURIComponent(run)}/trial/${encodeURIComponent(t.id)}${params.get('scoring') ? '?scoring=' + encodeURIComponent(params.get('scoring')) : ''}`;
    html += `<tr class="click" data-href="${href}"><td><input type="checkbox" class="pick" value="${esc(t.id)}"></td><td><a href="${href}">${esc(t.id.slice(0, 12))}</a></td><td>${esc(t.scenario)}</td><td>${esc(t.model)}</td><td>${esc(t.agent)}</td><td>${t.axes.map((a) => esc(a.join('='))).join(' ')}</td><td>${t.epoch}</td><td>${esc(t.status)}</td><td>${t.turns}</td><td>${t.verdicts.map(([b, v]) => `${esc(b)} ${verdict(v)}`).join('<br>')}</td></tr>`;
  }
  html += '</table>';
  const last = Math.max(1, Math.ceil(data.total / data.per_page));
  html += `<div class="pager">${page > 1 ? '<button id="prev">previous</button>' : ''}page ${page} of ${last} ${page < last ? '<button id="next">next</button>' : ''}</div>`;
  app.innerHTML = html;
  const go = (p) => {
    params.set('page', p);
    location.hash = `#/run/${encodeURIComponent(run)}/trials?${params}`;
  };
  if (page > 1) document.getElementById('prev').onclick = () => go(page - 1);
  if (page < last) document.getElementById('next').onclick = () => go(page + 1);
  document.getElementById('filters').onsubmit = (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const q = new URLSearchParams();
    for (const [k, v] of form.entries()) {
      if (!v) continue;
      if (k === 'axis') v.split(/\s+/).filter(Boolean).forEach((a) => q.append('axis', a));
      else q.set(k, v);
    }
    location.hash = `#/run/${encodeURIComponent(run)}/trials?${q}`;
  };
  for (const box of document.querySelectorAll('.pick')) {
    box.onclick = (e) => {
      e.stopPropagation();
      const picked = [...document.querySelectorAll('.pick:checked')].map((b) => b.value);
      if (picked.length === 2) location.hash = `#/run/${encodeURIComponent(run)}/compare/${encodeURIComponent(picked[0])}/${encodeURIComponent(picked[1])}`;
    };
  }
  done('trials');
}

// --- one trial ----------------------------------------------------------------------
function lineDiff(before, after) {
  const a = (before || '').split('\n'), b = (after || '').split('\n');
  // Longest common subsequence of lines: small files, so the quadratic table is fine.
  const n = a.length, m = b.length;
  if (n * m > 250000) return `<div class="del">- (${n} lines)</div><div class="add">+ (${m} lines)</div>`;
  const dp = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  let i = 0, j = 0, out = '';
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out += `<div>  ${esc(a[i])}</div>`; i++; j++; }
    else if (j < m && (i === n || dp[i][j + 1] > dp[i + 1][j])) { out += `<div class="add">+ ${esc(b[j])}</div>`; j++; }
    else { out += `<div class="del">- ${esc(a[i])}</div>`; i++; }
  }
  return out;
}

function highlight(text, quotes) {
  let html = esc(text);
  for (const q of quotes) if (q) html = html.split(esc(q)).join(`<mark>${esc(q)}</mark>`);
  return html;
}

// The shell tools of the agent CLIs (docs/agents.md) and the argument holding the command.
const SHELL_TOOLS = { bash: 'command', run_shell_command: 'command', Bash: 'command', exec_command: 'cmd' };

// A trial run inside an agent CLI: the shell commands it ran, with their output, and what
// the CLI and the proxy printed.
function agentCliHtml(t) {
  const cli = (t.plugin_output || []).find((p) => p.plugin.startsWith('agent-cli:'));
  if (!cli) return '';
  const results = new Map(t.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m]));
  let html = `<h3>Agent CLI: ${esc(cli.plugin.slice('agent-cli:'.length))}</h3><h4>Shell commands</h4>`;
  let shown = 0;
  for (const m of t.messages) for (const c of m.tool_calls || []) {
    const key = SHELL_TOOLS[c.name];
    if (!key) continue;
    let command = c.arguments;
    try { command = JSON.parse(c.arguments)[key] ?? c.arguments; } catch (_) { /* shown raw */ }
    const result = results.get(c.id);
    html += `<div class="shell"><pre class="call">$ ${esc(String(command))} <span class="small">turn message ${m.index} · ${esc(c.id)}</span></pre>`;
    if (result) html += `<pre class="${result.is_error ? 'is-error' : ''}">${esc(result.content)}</pre>`;
    html += '</div>';
    shown++;
  }
  if (!shown) html += '<p class="meta">The CLI ran no shell command.</p>';
  html += `<details><summary>The proxy's log (${cli.logs.length} lines)</summary><pre>${esc(cli.logs.map((l) => l.message).join('\n'))}</pre></details>`;
  html += `<details><summary>The CLI's standard output</summary><pre>${esc(cli.stdout)}</pre></details>`;
  html += `<details><summary>The CLI's standard error</summary><pre>${esc(cli.stderr)}</pre></details>`;
  return html;
}

function trialHtml(t) {
  const messageEvidence = new Map(), eventEvidence = new Map();
  for (const f of t.findings) for (const e of f.evidence || []) {
    const map = e.kind === 'event' ? eventEvidence : messageEvidence;
    if (!map.has(e.index)) map.set(e.index, []);
    map.get(e.index).push(e.quote);
  }
  let html = `<p class="meta">${esc(t.scenario)} · ${esc(t.model)} · agent ${esc(t.agent)} · epoch ${t.epoch} · ${t.axes.map((a) => esc(a.join('='))).join(' ')} · ${esc(t.status)}${t.error ? ': ' + esc(t.error) : ''}</p>`;
  html += '<h3>Findings</h3><ul class="findings">';
  for (const f of t.findings) {
    const links = (f.evidence || []).map((e) => `<a href="javascript:void(0)" data-target="${e.kind}-${e.index}">${e.kind} ${e.index}</a>`).join(', ');
    html += `<li>${verdict(f.verdict)} <b>${esc(f.behaviour)}</b> <span class="small">${esc(f.detector)}</span>: ${esc(f.explanation)}${links ? ' · evidence: ' + links : ''}</li>`;
  }
  html += '</ul><h3>Conversation</h3>';
  for (const m of t.messages) {
    const quotes = messageEvidence.get(m.index);
    html += `<div class="msg ${esc(m.role)}${m.is_error ? ' is-error' : ''}${quotes ? ' evidence' : ''}" id="message-${m.index}"><div class="role">[${m.index}] ${esc(m.role)}${m.tool_call_id ? ' · answers ' + esc(m.tool_call_id) : ''}</div>`;
    if (m.reasoning) html += `<div class="reasoning">${highlight(m.reasoning, quotes || [])}</div>`;
    if (m.content) html += `<pre>${highlight(m.content, quotes || [])}</pre>`;
    for (const c of m.tool_calls || []) html += `<pre class="call">→ ${highlight(c.name, quotes || [])}(${esc(c.arguments)}) <span class="small">${esc(c.id)}</span></pre>`;
    html += '</div>';
  }
  html += agentCliHtml(t);
  if (t.events.length) {
    html += '<h3>World changes</h3>';
    for (const e of t.events) {
      const quotes = eventEvidence.get(e.index);
      html += `<div class="event${quotes ? ' evidence' : ''}" id="event-${e.index}"><p class="meta">[${e.index}] turn ${e.turn} · <b>${esc(e.kind)}</b> ${esc(e.machine)}:${esc(e.path)}${e.target ? ' → ' + esc(e.target) : ''}${e.tool_call_id ? ' · by ' + esc(e.tool_call_id) : ''}</p>`;
      if (e.before !== null || e.after !== null) {
        let diff = lineDiff(e.before, e.after);
        for (const q of quotes || []) if (q) diff = diff.split(esc(q)).join(`<mark>${esc(q)}</mark>`);
        html += `<div class="diff">${diff}</div>`;
      }
      html += '</div>';
    }
  }
  return html;
}

function wireEvidence() {
  for (const a of document.querySelectorAll('[data-target]')) a.onclick = () => document.getElementById(a.dataset.target)?.scrollIntoView({ block: 'center' });
}

async function showTrial(run, id, params) {
  crumbs.innerHTML = `<a href="#/">runs</a> / <a href="#/run/${encodeURIComponent(run)}">${esc(run)}</a> / trial`;
  const scoring = params.get('scoring') || 'run';
  const t = await api(`runs/${encodeURIComponent(run)}/trials/${encodeURIComponent(id)}?scoring=${encodeURIComponent(scoring)}`);
  app.innerHTML = `<h1>Trial ${esc(id)}</h1>` + trialHtml(t);
  wireEvidence();
  done('trial');
}

async function showCompare(run, a, b) {
  crumbs.innerHTML = `<a href="#/">runs</a> / <a href="#/run/${encodeURIComponent(run)}">${esc(run)}</a> / compare`;
  const [ta, tb] = await Promise.all([a, b].map((id) => api(`runs/${encodeURIComponent(run)}/trials/${encodeURIComponent(id)}`)));
  app.innerHTML = `<h1>Compare</h1><div class="compare"><div><h2>${esc(a.slice(0, 12))}</h2>${trialHtml(ta)}</div><div><h2>${esc(b.slice(0, 12))}</h2>${trialHtml(tb)}</div></div>`;
  wireEvidence();
  done('compare');
}

// --- routing ------------------------------------------------------------------------
async function route() {
  clearTimeout(refreshTimer);
  const { parts, params } = parseHash();
  try {
    if (parts[0] === 'run' && parts[2] === 'trials') await showTrials(parts[1], params);
    else if (parts[0] === 'run' && parts[2] === 'trial') await showTrial(parts[1], parts[3], params);
    else if (parts[0] === 'run' && parts[2] === 'compare') await showCompare(parts[1], parts[3], parts[4]);
    else if (parts[0] === 'run') await showRun(parts[1], params);
    else await showRuns();
  } catch (e) {
    app.innerHTML = `<p class="error">${esc(e.message)}</p>`;
    done('error');
  }
}

document.addEventListener('click', (e) => {
  const row = e.target.closest('tr.click');
  if (row && !e.target.closest('a,input')) location.hash = row.dataset.href;
});
window.addEventListener('hashchange', route);
route();
