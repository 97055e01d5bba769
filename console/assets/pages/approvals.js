// Approvals: paused executions waiting for a person, with the exact call
// and its arguments.

import { alertBox, api, busy, el, errorPanel, headline, loading, pretty, relative, when } from '../lib.js';

const MODE = { browser: 'Browser approval', model: 'Agent asks in chat', native: 'Native elicitation', console: 'Console run' };

export async function render(ctx) {
  ctx.title('Approvals');
  const list = el('div', { id: 'approvals', class: 'approvals', 'aria-live': 'polite' }, loading('Loading pending approvals…'));
  const refresh = el('button', { type: 'button', id: 'refresh-approvals' }, 'Refresh');
  ctx.main.replaceChildren(
    el('div', { class: 'page-head' },
      el('div', {}, el('h1', {}, 'Approvals'),
        el('p', { class: 'lede' }, 'Tool calls that wait for a person. Check the exact call and its arguments, then approve or decline it.')),
      el('div', { class: 'actions' }, refresh)),
    list);
  const cards = new Map();
  let failed = false;

  async function load() {
    let items;
    try {
      items = await api('/api/executions?status=paused', { signal: ctx.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      failed = true;
      list.replaceChildren(errorPanel(err, load));
      return;
    }
    if (failed) { list.replaceChildren(); failed = false; }
    items.sort((a, b) => b.createdAt - a.createdAt);
    const live = new Set(items.map((x) => x.executionId));
    for (const [id, c] of cards) {
      if (!live.has(id) && !c.dataset.done) { c.remove(); cards.delete(id); }
    }
    for (const x of items) {
      if (!cards.has(x.executionId)) cards.set(x.executionId, card(x));
    }
    const nodes = [...cards.values()];
    if (!nodes.length) {
      list.replaceChildren(el('div', { class: 'empty' },
        el('p', { class: 'empty-title' }, 'Nothing is waiting for approval'),
        el('p', {}, 'When an agent calls a tool that needs approval, the call appears here.')));
      return;
    }
    const empty = list.querySelector('.empty, .loading');
    if (empty) empty.remove();
    for (const n of nodes) if (n.parentNode !== list) list.append(n);
    ctx.refreshApprovals();
  }

  function card(x) {
    const err = alertBox();
    const approve = el('button', { type: 'button', class: 'primary', 'data-action': 'accept' }, 'Approve');
    const decline = el('button', { type: 'button', 'data-action': 'decline' }, 'Decline');
    const actions = el('div', { class: 'actions' }, decline, approve);
    const head = headline(x.message, x.address);
    const c = el('article', { class: 'panel approval', 'data-execution': x.executionId, 'aria-labelledby': `ap-${x.executionId}` },
      el('div', { class: 'approval-head' },
        el('code', { class: 'address', id: `ap-${x.executionId}` }, x.address),
        el('span', { class: 'tag' }, MODE[x.mode] || x.mode)),
      el('p', { class: 'approval-message' }, head),
      x.target ? el('p', { class: 'target' }, 'Sends ', el('code', {}, x.target)) : null,
      el('h3', {}, 'Arguments'),
      el('pre', { class: 'code args' }, pretty(x.args)),
      el('p', { class: 'meta' },
        el('span', {}, `Requested ${when(x.createdAt)}`),
        el('span', {}, `expires ${relative(x.expiresAt)}`),
        x.pattern ? el('span', {}, 'rule ', el('code', {}, x.pattern)) : el('span', {}, 'the tool’s default')),
      err);
    if (x.decision) {
      c.append(decided(x.decision.action, x.mode));
    } else {
      c.append(actions);
    }
    const decide = (action) => busy(actions, async () => {
      err.show('');
      try {
        const r = await api(`/api/executions/${encodeURIComponent(x.executionId)}/resume`, { method: 'POST', body: { action } });
        c.dataset.done = '1';
        actions.replaceWith(r.status === 'decided' ? decided(action, x.mode) : ran(action, r));
        ctx.refreshApprovals();
      } catch (e) {
        err.show(e);
      }
    });
    approve.addEventListener('click', () => decide('accept'));
    decline.addEventListener('click', () => decide('decline'));
    return c;
  }

  refresh.addEventListener('click', () => busy(refresh, load));
  const timer = setInterval(() => { if (!document.hidden) load(); }, 5000);
  ctx.onLeave(() => clearInterval(timer));
  await load();
}

function word(action) {
  return action === 'accept' ? 'Approved' : action === 'cancel' ? 'Canceled' : 'Declined';
}

function decided(action, mode) {
  const next = mode === 'browser'
    ? 'The agent continues as soon as it resumes; if it is waiting, it already has.'
    : 'The agent’s next resume of this execution uses your decision.';
  return el('p', { class: `decision d-${action}`, role: 'status' }, el('strong', {}, `${word(action)}.`), ' ', next);
}

function ran(action, r) {
  return el('div', { class: `decision d-${action}`, role: 'status' },
    el('p', {}, el('strong', {}, `${word(action)}.`), r.status === 'paused' ? ' The run paused again for another call; it is listed here.' : ' The run finished:'),
    r.status === 'paused' ? null : el('pre', { class: 'code' }, r.text || '(no result)'));
}
