// Activity: the audit log, newest first, with filters and paging.

import { ACTIONS, actionLabel, api, busy, el, errorPanel, field, loading, select, when } from '../lib.js';

const KINDS = [['', 'Everything'], ['call', 'Tool calls'], ['approval', 'Approvals'], ['policy', 'Policy changes']];
const KIND_LABEL = { call: 'Call', approval: 'Approval', policy: 'Policy' };
const FILTERS = ['kind', 'decision', 'outcome', 'address', 'principal', 'since', 'until'];

export async function render(ctx) {
  ctx.title('Activity');
  const q = ctx.query;
  const kind = select(KINDS, q.get('kind') || '', { name: 'kind' });
  const decision = select([['', 'Any'], ...ACTIONS], q.get('decision') || '', { name: 'decision' });
  const outcome = el('input', { name: 'outcome', value: q.get('outcome') || '', placeholder: 'ok, blocked, approved…', autocomplete: 'off' });
  const address = el('input', { name: 'address', id: 'filter-address', value: q.get('address') || '', placeholder: 'tools.github or a tool id', autocomplete: 'off', spellcheck: 'false' });
  const principal = el('input', { name: 'principal', value: q.get('principal') || '', placeholder: 'id or email', autocomplete: 'off' });
  const since = el('input', { type: 'datetime-local', name: 'since', value: toLocalInput(q.get('since')) });
  const until = el('input', { type: 'datetime-local', name: 'until', value: toLocalInput(q.get('until')) });
  const apply = el('button', { type: 'submit', class: 'primary', id: 'apply-filters' }, 'Apply');
  const reset = el('button', { type: 'button' }, 'Reset');
  const form = el('form', { class: 'filters', 'aria-label': 'Filters' },
    el('div', { class: 'filter-grid' },
      field('Kind', kind), field('Decision', decision), field('Outcome', outcome),
      field('Tool', address), field('Principal', principal), field('From', since), field('To', until)),
    el('div', { class: 'actions' }, reset, apply));
  const active = FILTERS.filter((f) => q.get(f)).length;
  const filters = el('details', { class: 'panel filter-panel', open: active > 0 || matchMedia('(min-width: 641px)').matches },
    el('summary', {}, 'Filters', active ? el('span', { class: 'n' }, String(active)) : null), form);
  const body = el('tbody', {});
  const table = el('div', { class: 'table-wrap' }, el('table', { class: 'log stack', id: 'activity' },
    el('caption', { class: 'visually-hidden' }, 'Audit log, newest first'),
    el('thead', {}, el('tr', {}, ['Time', 'Kind', 'Tool or rule', 'Decision', 'Outcome', 'Duration', 'Who'].map((h) => el('th', { scope: 'col' }, h)))),
    body));
  const status = el('div', { 'aria-live': 'polite' });
  const more = el('button', { type: 'button', id: 'load-more', hidden: true }, 'Load older entries');
  const region = el('div', { class: 'log-region' }, table, status, el('div', { class: 'actions center' }, more));
  ctx.main.replaceChildren(
    el('div', { class: 'page-head' }, el('div', {}, el('h1', {}, 'Activity'),
      el('p', { class: 'lede' }, 'Every policy decision, tool call, approval and rule change. Arguments are kept only as a digest.'))),
    filters, region);

  let next = null;
  const params = () => {
    const p = new URLSearchParams();
    if (kind.value) p.set('kind', kind.value);
    if (decision.value) p.set('decision', decision.value);
    if (outcome.value.trim()) p.set('outcome', outcome.value.trim());
    if (address.value.trim()) p.set('address', address.value.trim());
    if (principal.value.trim()) p.set('principal', principal.value.trim());
    if (since.value) p.set('since', String(new Date(since.value).getTime()));
    if (until.value) p.set('until', String(new Date(until.value).getTime()));
    return p;
  };

  async function load(append) {
    const p = params();
    if (append && next) p.set('before', String(next));
    p.set('limit', '50');
    if (!append) status.replaceChildren(loading('Loading activity…'));
    region.setAttribute('aria-busy', 'true');
    try {
      const r = await api(`/api/audit?${p}`, { signal: ctx.signal });
      if (!append) body.replaceChildren();
      body.append(...r.items.map(row));
      next = r.nextBefore;
      more.hidden = !next;
      status.replaceChildren(body.children.length ? '' : el('p', { class: 'muted empty-row' }, 'No activity matches these filters.'));
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.replaceChildren(errorPanel(err, () => load(append)));
    } finally {
      region.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = params();
    history.replaceState(null, '', `/activity${p.toString() ? '?' + p : ''}`);
    busy(form, () => load(false));
  });
  reset.addEventListener('click', () => {
    for (const f of FILTERS) { if (form.elements[f]) form.elements[f].value = ''; }
    form.requestSubmit();
  });
  more.addEventListener('click', () => busy(more, () => load(true)));
  await load(false);
}

function row(r) {
  return el('tr', { 'data-seq': String(r.seq) },
    el('td', { class: 'nowrap', 'data-label': 'Time' }, el('time', { datetime: new Date(r.time).toISOString() }, when(r.time))),
    el('td', { class: 'nowrap', 'data-label': 'Kind' }, KIND_LABEL[r.kind] || r.kind),
    el('td', { class: 'mono addr', 'data-label': 'Tool' }, el('span', {}, r.address, r.pattern && r.kind !== 'policy' ? el('span', { class: 'sub' }, `rule ${r.pattern}`) : null)),
    el('td', { 'data-label': 'Decision' }, r.decision ? el('span', { class: `tag p-${r.decision}` }, actionLabel(r.decision)) : ''),
    el('td', { 'data-label': 'Outcome' }, el('span', { class: `tag o-${outcomeClass(r.outcome)}` }, r.outcome)),
    el('td', { class: 'num', 'data-label': 'Duration' }, r.durationMs ? `${r.durationMs} ms` : ''),
    el('td', { 'data-label': 'Who', title: r.principal }, r.email || r.name || r.principal));
}

function outcomeClass(o) {
  if (['ok', 'approved', 'created', 'updated', 'deleted'].includes(o)) return 'good';
  if (['paused', 'canceled'].includes(o)) return 'wait';
  return 'bad';
}

function toLocalInput(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
