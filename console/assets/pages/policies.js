// Policies: the ordered rules that decide whether a tool call runs, waits
// for approval, or is blocked.

import { ACTIONS, alertBox, api, busy, confirmDialog, el, errorPanel, field, loading, select, toast } from '../lib.js';
import { policySelect } from '../tree.js';

export async function render(ctx) {
  ctx.title('Policies');
  const lists = el('div', { id: 'policies', 'aria-live': 'polite' }, loading('Loading policies…'));
  const err = alertBox();
  let rules = [];

  const pattern = el('input', { name: 'pattern', id: 'policy-pattern', placeholder: 'vercel.dns.* or *', autocomplete: 'off', spellcheck: 'false', class: 'mono', required: true });
  const action = select(ACTIONS, 'require_approval', { name: 'action', id: 'policy-action' });
  const owner = select([['org', 'Organization'], ['user', 'Personal']], 'org', { name: 'owner', id: 'policy-owner' });
  const addErr = alertBox();
  const add = el('button', { type: 'submit', class: 'primary', id: 'add-policy' }, 'Add rule');
  const form = el('form', { class: 'panel policy-form', 'aria-labelledby': 'add-rule-h' },
    el('h2', { id: 'add-rule-h' }, 'Add a rule'),
    el('div', { class: 'policy-form-grid' },
      field('Tool pattern', pattern, 'An exact tool id, a prefix ending in .* for everything below it, * as one whole segment, or * alone for every tool.'),
      field('Action', action),
      field('Owner', owner)),
    addErr,
    el('div', { class: 'actions' }, add));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    addErr.show('');
    await busy(form, async () => {
      try {
        const r = await api('/api/policies', { method: 'POST', body: { owner: owner.value, pattern: pattern.value.trim(), action: action.value } });
        pattern.value = '';
        toast(`Added ${r.pattern}: it matches ${r.matches} ${r.matches === 1 ? 'tool' : 'tools'}.`);
        await load();
      } catch (e2) {
        addErr.show(e2);
      }
    });
  });

  ctx.main.replaceChildren(
    el('div', { class: 'page-head' },
      el('div', {}, el('h1', {}, 'Policies'),
        el('p', { class: 'lede' }, 'Rules decide whether a tool call runs, waits for a person’s approval, or is blocked. Within each owner the first matching rule decides; between the organization’s rules and your own, the more restrictive wins. With no rule, tools that change things ask for approval.'))),
    form, err, lists);

  async function load() {
    try {
      rules = await api('/api/policies', { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      lists.replaceChildren(errorPanel(e, load));
      return;
    }
    draw();
  }

  function draw() {
    const org = rules.filter((r) => r.owner === 'org');
    const mine = rules.filter((r) => r.owner === 'user');
    lists.replaceChildren(
      section('Organization rules', 'org-rules', org, 'No organization rules. Every tool follows its default: calls that change things ask for approval.'),
      section('Personal rules', 'user-rules', mine, 'No personal rules. Personal rules apply only to your own calls and can only make them stricter.'));
  }

  function section(title, id, rs, empty) {
    return el('section', { class: 'section', 'aria-labelledby': id + '-h' },
      el('h2', { id: id + '-h' }, title, el('span', { class: 'n' }, String(rs.length))),
      rs.length ? el('ol', { class: 'rules', id }, rs.map((r, i) => ruleRow(r, i, rs))) : el('p', { class: 'muted' }, empty));
  }

  function ruleRow(r, i, rs) {
    const patternCode = el('code', { class: 'pattern' }, r.pattern);
    const edit = el('button', { type: 'button', class: 'small' }, 'Edit');
    const up = el('button', { type: 'button', class: 'small icon', 'aria-label': `Move ${r.pattern} up`, disabled: i === 0 }, '↑');
    const down = el('button', { type: 'button', class: 'small icon', 'aria-label': `Move ${r.pattern} down`, disabled: i === rs.length - 1 }, '↓');
    const del = el('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${r.pattern}` }, 'Delete');
    const act = policySelect(r.action, `Action for ${r.pattern}`, (a, sel) => busy(sel, () => patch(r, { action: a })));
    const row = el('li', { class: 'rule', 'data-id': r.id },
      el('span', { class: 'rule-n', 'aria-hidden': 'true' }, String(i + 1)),
      el('div', { class: 'rule-main' }, patternCode,
        el('span', { class: 'matches' }, `matches ${r.matches} ${r.matches === 1 ? 'tool' : 'tools'}`)),
      el('div', { class: 'rule-actions' }, act, up, down, edit, del));
    edit.addEventListener('click', () => {
      const input = el('input', { value: r.pattern, class: 'mono', 'aria-label': `Pattern of rule ${i + 1}`, spellcheck: 'false' });
      const save = el('button', { type: 'submit', class: 'small primary' }, 'Save');
      const cancel = el('button', { type: 'button', class: 'small' }, 'Cancel');
      const f = el('form', { class: 'inline-edit' }, input, save, cancel);
      cancel.addEventListener('click', () => draw());
      f.addEventListener('submit', (e) => { e.preventDefault(); busy(f, () => patch(r, { pattern: input.value.trim() })); });
      patternCode.replaceWith(f);
      input.focus();
    });
    up.addEventListener('click', () => busy(row, () => move(rs, i, -1)));
    down.addEventListener('click', () => busy(row, () => move(rs, i, +1)));
    del.addEventListener('click', async () => {
      if (!(await confirmDialog('Delete this rule?', `${r.pattern} → ${ACTIONS.find(([v]) => v === r.action)[1]}. Tools it matched follow the next matching rule, or their default.`, 'Delete rule'))) return;
      await busy(row, async () => {
        err.show('');
        try {
          await api(`/api/policies/${encodeURIComponent(r.id)}`, { method: 'DELETE', body: { owner: r.owner } });
          toast(`Deleted ${r.pattern}.`);
          await load();
        } catch (e) {
          err.show(e);
        }
      });
    });
    return row;
  }

  async function patch(r, body) {
    err.show('');
    try {
      await api(`/api/policies/${encodeURIComponent(r.id)}`, { method: 'PATCH', body });
      toast('Saved.');
    } catch (e) {
      err.show(e);
    }
    await load();
  }

  /** move puts rule i one place up (-1) or down (+1) by giving it a position between its new neighbours. */
  async function move(rs, i, dir) {
    err.show('');
    const order = rs.slice();
    const [r] = order.splice(i, 1);
    order.splice(i + dir, 0, r);
    const j = i + dir;
    const before = order[j - 1];
    const after = order[j + 1];
    let pos;
    if (!before) pos = after.position - 1000;
    else if (!after) pos = before.position + 1000;
    else pos = (before.position + after.position) / 2;
    try {
      if ((before && pos === before.position) || (after && pos === after.position)) {
        // Neighbours share a position: number the whole list again.
        for (let k = 0; k < order.length; k++) {
          await api(`/api/policies/${encodeURIComponent(order[k].id)}`, { method: 'PATCH', body: { position: (k + 1) * 1000 } });
        }
      } else {
        await api(`/api/policies/${encodeURIComponent(r.id)}`, { method: 'PATCH', body: { position: pos } });
      }
    } catch (e) {
      err.show(e);
    }
    await load();
    const moved = lists.querySelector(`li[data-id="${CSS.escape(r.id)}"] button[aria-label^="Move"]:not([disabled])`);
    if (moved) moved.focus();
  }

  await load();
}
