// The browser-mode approval page an agent links to:
// /resume/<executionId>?mcp_session_id=<session>.

import { alertBox, api, busy, copy, el, headline, loading, pretty } from '../lib.js';

const SENT = { accept: 'Approval sent', decline: 'Decline sent', cancel: 'Cancel sent' };

export async function render(ctx) {
  const id = ctx.params[0];
  const sid = ctx.query.get('mcp_session_id') || '';
  ctx.title('Approval required');
  const box = el('div', { class: 'resume' }, loading('Loading the paused call…'));
  ctx.main.replaceChildren(box);
  const base = `/api/mcp-sessions/${encodeURIComponent(sid)}/executions/${encodeURIComponent(id)}`;
  let x;
  try {
    if (!sid) throw Object.assign(new Error('missing session'), { status: 404 });
    x = await api(base, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    box.replaceChildren(el('section', { class: 'panel resume-card' },
      el('h1', {}, 'Nothing to approve'),
      el('p', {}, err.status === 404
        ? 'This paused execution is no longer available: it was already decided, it expired, or the link is not for you. Ask your agent to run it again if it is still needed.'
        : err.message),
      el('p', {}, el('a', { href: '/approvals' }, 'See pending approvals'))));
    return;
  }
  const p = x.pending || {};
  const head = headline(p.message, p.address);
  const err = alertBox();
  const approve = el('button', { type: 'button', class: 'primary', id: 'approve' }, 'Approve');
  const decline = el('button', { type: 'button', id: 'decline' }, 'Decline');
  const cancel = el('button', { type: 'button', id: 'cancel' }, 'Cancel');
  const actions = el('div', { class: 'actions' }, cancel, decline, approve);
  const eyebrow = el('p', { class: 'eyebrow' }, 'User approval required');
  const card = el('section', { class: 'panel resume-card', 'aria-labelledby': 'resume-h' },
    eyebrow,
    el('h1', { id: 'resume-h' }, 'Resume execution'),
    el('p', { class: 'approval-message' }, head),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Tool'), el('dd', {}, el('code', { class: 'address', id: 'resume-address' }, p.address || '')),
      p.target ? el('dt', {}, 'Sends') : null, p.target ? el('dd', {}, el('code', { id: 'resume-target' }, p.target)) : null,
      el('dt', {}, 'Execution'), el('dd', { class: 'mono' }, id)),
    el('h3', {}, 'Arguments'),
    el('pre', { class: 'code args', id: 'resume-args' }, pretty(p.args)),
    err);
  if (x.decided || x.status !== 'paused') {
    card.append(el('p', { class: 'note', role: 'status' }, 'This call was already decided. Return to your agent.'));
  } else {
    card.append(actions);
  }
  const decide = (action) => busy(actions, async () => {
    err.show('');
    try {
      const r = await api(`${base}/resume`, { method: 'POST', body: { action } });
      const prompt = r.text || '';
      const copyBtn = el('button', { type: 'button', class: 'primary', id: 'copy-prompt' }, 'Copy prompt');
      copyBtn.addEventListener('click', () => copy(prompt, copyBtn));
      actions.replaceWith(el('div', { class: `decision d-${action}`, role: 'status', id: 'resume-done' },
        el('p', {}, el('strong', {}, `${SENT[action]}.`), ' Return to your agent: it continues when it resumes. If it is not waiting, tell it:'),
        el('pre', { class: 'code' }, prompt),
        copyBtn));
      eyebrow.textContent = 'Decision sent';
      eyebrow.classList.add('done');
      copyBtn.focus();
      ctx.refreshApprovals();
    } catch (e) {
      err.show(e.status === 404 ? 'This paused execution is no longer available.' : e);
    }
  });
  approve.addEventListener('click', () => decide('accept'));
  decline.addEventListener('click', () => decide('decline'));
  cancel.addEventListener('click', () => decide('cancel'));
  box.replaceChildren(card);
}
