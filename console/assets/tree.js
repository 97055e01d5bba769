// The tool tree shared by an integration's page and the Tools page: tools
// grouped by integration, connection and name, each tool and group with its
// policy (Always run / Require approval / Block, written as organization
// rules), and the selected tool's schema and Run panel.

import { ACTIONS, alertBox, api, busy, copy, el, errorPanel, headline, jsPath, loading, ownerLabel, pretty, toast } from './lib.js';

/**
 * toolBrowser renders the tree and the detail pane into a container.
 * opts.integration limits it to one integration (its level is then left
 * out); opts.names maps integration slugs to names; opts.emptyHint, if
 * given, returns what to say when there are no tools (or nothing, for the
 * default).
 */
export function toolBrowser(ctx, opts = {}) {
  const treeBox = el('div', { class: 'tree-box', id: 'tool-tree', 'aria-live': 'polite' }, loading('Loading tools…'));
  const detail = el('div', { class: 'tool-detail', id: 'tool-detail' });
  const filterInput = el('input', { type: 'search', placeholder: 'Filter tools', 'aria-label': 'Filter tools', autocomplete: 'off', class: 'filter' });
  const status = alertBox();
  const node = el('div', { class: 'browser' },
    el('div', { class: 'browser-tree' }, filterInput, status, treeBox),
    detail);
  const expanded = new Set();
  let collapsedByUser = new Set();
  let tools = [];
  let selected = ctx.query.get('tool') || '';

  filterInput.addEventListener('input', () => draw());

  async function load() {
    const q = new URLSearchParams({ includeBlocked: 'true' });
    if (opts.integration) q.set('integration', opts.integration);
    try {
      tools = await api(`/api/tools?${q}`, { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      treeBox.replaceChildren(errorPanel(err, load));
      return;
    }
    node.classList.toggle('no-tools', !tools.length);
    draw();
    if (selected) {
      const t = tools.find((x) => x.address === selected);
      if (t) showDetail(t);
    } else {
      detail.replaceChildren(el('div', { class: 'detail-empty' }, el('p', {}, tools.length ? 'Select a tool to see its schema and run it.' : '')));
    }
  }

  function draw() {
    const q = filterInput.value.trim().toLowerCase();
    const shown = q ? tools.filter((t) => (t.address + ' ' + (t.description || '')).toLowerCase().includes(q)) : tools;
    if (!tools.length) {
      const hint = (opts.emptyHint && opts.emptyHint()) ||
        { title: 'No tools yet', text: opts.integration ? 'Add a connection to list this integration’s tools.' : 'Add an integration and a connection to see their tools here.' };
      treeBox.replaceChildren(el('div', { class: 'empty' },
        el('p', { class: 'empty-title' }, hint.title),
        el('p', {}, hint.text)));
      return;
    }
    if (!shown.length) {
      treeBox.replaceChildren(el('p', { class: 'muted' }, 'No tool matches the filter.'));
      return;
    }
    const root = buildTree(shown, opts);
    const many = shown.length > 60 && !q;
    treeBox.replaceChildren(el('ul', { class: 'tree', 'aria-label': 'Tools' }, renderChildren(root, 0, many)));
  }

  function renderChildren(n, depth, many) {
    const items = [];
    // Built-in tools come after the integrations, folded.
    const groups = [...n.groups.values()].sort((a, b) => (a.key === 'executor') - (b.key === 'executor') || byLabel(a, b));
    for (const g of groups) items.push(renderGroup(g, depth, many));
    for (const t of [...n.leaves.values()].sort(byLabel)) items.push(renderLeaf(t));
    return items;
  }

  function renderGroup(g, depth, many) {
    const folded = g.key === 'executor' || many && depth >= 1;
    const open = !collapsedByUser.has(g.key) && (expanded.has(g.key) || !folded);
    const list = el('ul', { hidden: !open }, renderChildren(g, depth + 1, many));
    const twisty = el('button', { type: 'button', class: 'twisty', 'aria-expanded': String(open) },
      el('span', { class: 'chev', 'aria-hidden': 'true' }),
      el('span', { class: 'group-label' }, g.label),
      el('span', { class: 'n' }, String(g.count)));
    twisty.addEventListener('click', () => {
      const now = twisty.getAttribute('aria-expanded') !== 'true';
      twisty.setAttribute('aria-expanded', String(now));
      list.hidden = !now;
      if (now) { expanded.add(g.key); collapsedByUser.delete(g.key); } else { collapsedByUser.add(g.key); expanded.delete(g.key); }
    });
    const actions = new Set(g.actions);
    const current = actions.size === 1 ? [...actions][0] : 'mixed';
    return el('li', { class: 'group' },
      el('div', { class: 'row' }, twisty,
        g.pattern ? policySelect(current, `Policy for every tool under ${g.label}`, (a, sel) => setPolicy(g.pattern, a, sel, g.addresses)) : null),
      list);
  }

  function renderLeaf(l) {
    const t = l.tool;
    const btn = el('button', { type: 'button', class: 'tool-name', 'aria-current': t.address === selected ? 'true' : null, 'data-address': t.address },
      el('span', { class: 'leaf-label' }, l.label),
      t.description ? el('span', { class: 'leaf-desc' }, firstLine(t.description)) : null);
    btn.addEventListener('click', () => select(t));
    return el('li', { class: 'leaf' }, el('div', { class: 'row' }, btn,
      policySelect(t.policy || 'approve', `Policy for ${t.address}`, (a, sel) => setPolicy(t.address.replace(/^tools\./, ''), a, sel, [t.address]))));
  }

  function select(t) {
    selected = t.address;
    const u = new URL(location.href);
    u.searchParams.set('tool', t.address);
    history.replaceState(null, '', u.pathname + u.search);
    for (const b of treeBox.querySelectorAll('.tool-name')) {
      if (b.dataset.address === t.address) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    showDetail(t);
    if (window.matchMedia('(max-width: 900px)').matches) detail.scrollIntoView({ block: 'start' });
  }

  async function setPolicy(pattern, action, sel, addresses) {
    status.show('');
    await busy(sel, async () => {
      try {
        const rules = await api('/api/policies');
        const same = rules.find((r) => r.owner === 'org' && r.pattern === pattern);
        if (same) await api(`/api/policies/${encodeURIComponent(same.id)}`, { method: 'PATCH', body: { action } });
        else await api('/api/policies', { method: 'POST', body: { owner: 'org', pattern, action } });
        tools = await api(`/api/tools?${new URLSearchParams(opts.integration ? { includeBlocked: 'true', integration: opts.integration } : { includeBlocked: 'true' })}`);
        const differ = tools.filter((t) => addresses.includes(t.address) || (pattern.endsWith('.*') && t.address.startsWith('tools.' + pattern.slice(0, -1))))
          .filter((t) => t.policy !== action);
        const label = ACTIONS.find(([v]) => v === action)[1];
        if (differ.length) status.show(`Saved the rule ${pattern} → ${label}, but ${differ.length === 1 ? 'one tool still follows' : `${differ.length} tools still follow`} another rule. See Policies for the order.`);
        else toast(`${pattern}: ${label}.`);
      } catch (err) {
        status.show(err);
      }
    });
    draw();
    const t = tools.find((x) => x.address === selected);
    if (t) updateDetailPolicy(t);
  }

  let detailPolicy = null;
  function updateDetailPolicy(t) {
    if (detailPolicy) detailPolicy.replaceWith(detailPolicy = detailPolicySelect(t));
  }
  function detailPolicySelect(t) {
    return policySelect(t.policy || 'approve', `Policy for ${t.address}`, (a, sel) => setPolicy(t.address.replace(/^tools\./, ''), a, sel, [t.address]));
  }

  function showDetail(t) {
    detailPolicy = detailPolicySelect(t);
    const copyBtn = el('button', { type: 'button', class: 'small' }, 'Copy');
    copyBtn.addEventListener('click', () => copy(t.address, copyBtn));
    const schema = el('div', { class: 'schema', 'aria-live': 'polite' }, loading('Loading the schema…'));
    detail.replaceChildren(el('article', { class: 'panel detail', 'aria-labelledby': 'tool-h' },
      el('div', { class: 'detail-head' },
        el('h2', { id: 'tool-h' }, t.name),
        detailPolicy),
      el('div', { class: 'address-row' }, el('code', { class: 'address' }, t.address), copyBtn),
      t.description ? el('p', { class: 'description' }, t.description) : el('p', { class: 'muted' }, 'No description.'),
      t.requiresApproval ? el('p', { class: 'note' }, 'This tool asks for approval unless a rule says otherwise.') : null,
      schema,
      runPanel(t)));
    loadSchema(t, schema);
  }

  async function loadSchema(t, box) {
    try {
      const s = await api(`/api/tools/schema?address=${encodeURIComponent(t.address)}`, { signal: ctx.signal });
      box.replaceChildren(
        el('h3', {}, 'Input'), el('pre', { class: 'code ts', id: 'input-ts' }, s.inputTypeScript || 'unknown'),
        el('h3', {}, 'Output'), el('pre', { class: 'code ts' }, s.outputTypeScript || 'unknown'),
        s.typeScriptDefinitions && Object.keys(s.typeScriptDefinitions).length
          ? el('details', {}, el('summary', {}, 'Type definitions'),
            el('pre', { class: 'code ts' }, Object.entries(s.typeScriptDefinitions).map(([k, v]) => `type ${k} = ${v};`).join('\n\n')))
          : null);
    } catch (err) {
      if (err.name !== 'AbortError') box.replaceChildren(el('p', { class: 'alert', role: 'alert' }, err.message));
    }
  }

  load();
  return { node, reload: load, redraw: draw };
}

/** runPanel runs code through POST /api/executions, by default calling t. */
export function runPanel(t) {
  const code = el('textarea', { id: 'run-code', class: 'mono', rows: '5', spellcheck: 'false' });
  code.value = t ? `return await ${jsPath(t.address)}({});` : 'return await tools.search({ query: "" });';
  const auto = el('input', { type: 'checkbox', id: 'run-auto' });
  const out = el('div', { class: 'run-out', id: 'run-out', 'aria-live': 'polite' });
  const err = alertBox();
  const run = el('button', { type: 'submit', class: 'primary', id: 'run' }, 'Run');
  const form = el('form', { class: 'run', 'aria-labelledby': 'run-h' },
    el('h3', { id: 'run-h' }, 'Run'),
    el('label', { for: 'run-code', class: 'visually-hidden' }, 'Code to run'),
    code,
    el('div', { class: 'run-bar' },
      el('label', { class: 'check' }, auto, ' Approve calls that need approval'),
      run),
    err, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    await busy(form, async () => {
      try {
        showResult(await api('/api/executions', { method: 'POST', body: { code: code.value, autoApprove: auto.checked } }));
      } catch (e2) {
        out.replaceChildren();
        err.show(e2);
      }
    });
  });
  function showResult(r) {
    const s = r.structured || {};
    if (r.status === 'paused') {
      const id = s.executionId;
      const i = s.interaction || {};
      const approve = el('button', { type: 'button', class: 'primary' }, 'Approve');
      const decline = el('button', { type: 'button' }, 'Decline');
      const decideBox = el('div', { class: 'actions' }, decline, approve);
      const decide = (action, b) => busy(decideBox, async () => {
        try {
          showResult(await api(`/api/executions/${encodeURIComponent(id)}/resume`, { method: 'POST', body: { action } }));
        } catch (e2) {
          err.show(e2);
        }
      });
      approve.addEventListener('click', () => decide('accept', approve));
      decline.addEventListener('click', () => decide('decline', decline));
      out.replaceChildren(el('div', { class: 'result paused' },
        el('p', { class: 'result-status' }, el('span', { class: 'tag p-require_approval' }, 'Waiting for approval')),
        el('p', {}, headline(i.message, i.address)),
        i.args !== undefined ? el('pre', { class: 'code' }, pretty(i.args)) : null,
        decideBox));
      return;
    }
    out.replaceChildren(el('div', { class: `result ${r.isError ? 'failed' : 'done'}` },
      el('p', { class: 'result-status' }, el('span', { class: `tag ${r.isError ? 'p-block' : 'p-approve'}` }, r.isError ? 'Error' : 'Completed')),
      el('pre', { class: 'code', id: 'run-text' }, r.text || '(no result)')));
  }
  return form;
}

/** policySelect is a compact select showing and setting a policy. */
export function policySelect(current, label, onChange) {
  const options = ACTIONS.map(([v, l]) => el('option', { value: v, selected: v === current }, l));
  if (current === 'mixed') options.unshift(el('option', { value: 'mixed', selected: true, disabled: true }, 'Mixed'));
  const sel = el('select', { class: `policy p-${current}`, 'aria-label': label }, options);
  sel.addEventListener('change', () => {
    sel.className = `policy p-${sel.value}`;
    onChange(sel.value, sel);
  });
  return sel;
}

function firstLine(s) {
  const line = String(s).split('\n').find((x) => x.trim()) || '';
  return line.length > 140 ? line.slice(0, 139) + '…' : line;
}

const byLabel = (a, b) => a.label.localeCompare(b.label);

/** buildTree groups tools by integration, connection and name segments. */
function buildTree(tools, opts) {
  const root = newNode('', '', '');
  for (const t of tools) {
    const path = t.address.replace(/^tools\./, '');
    let levels;
    if (t.owner) {
      const conn = `${t.integration}.${t.owner}.${t.connection}`;
      const nameSegs = path.slice(conn.length + 1).split('.');
      levels = [
        { key: t.integration, label: (opts.names && opts.names[t.integration]) || t.integration },
        { key: conn, label: `${ownerLabel(t.owner)} · ${t.connection}` },
      ];
      let prefix = conn;
      for (const s of nameSegs.slice(0, -1)) {
        prefix += '.' + s;
        levels.push({ key: prefix, label: s });
      }
      levels.push({ leaf: nameSegs[nameSegs.length - 1] });
    } else {
      const segs = path.split('.');
      levels = [{ key: segs[0], label: segs[0] === 'executor' ? 'Built-in (executor)' : segs[0] }];
      let prefix = segs[0];
      for (const s of segs.slice(1, -1)) {
        prefix += '.' + s;
        levels.push({ key: prefix, label: s });
      }
      levels.push({ leaf: segs[segs.length - 1] });
    }
    if (opts.integration) levels = levels.slice(1);
    let n = root;
    for (const lv of levels) {
      n.count += 1;
      n.actions.push(t.policy || 'approve');
      n.addresses.push(t.address);
      if (lv.leaf !== undefined) {
        n.leaves.set(t.address, { label: lv.leaf, tool: t });
        break;
      }
      if (!n.groups.has(lv.key)) n.groups.set(lv.key, newNode(lv.key, lv.label, lv.key + '.*'));
      n = n.groups.get(lv.key);
    }
  }
  return root;
}

function newNode(key, label, pattern) {
  return { key, label, pattern, groups: new Map(), leaves: new Map(), count: 0, actions: [], addresses: [] };
}
