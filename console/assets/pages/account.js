// Account: who is signed in, and how.

import { api, el, errorPanel, initials } from '../lib.js';

const KIND = {
  local: 'Local mode: signed in automatically',
  user: 'Person signed in through Cloudflare Access',
  service: 'Service token',
};

export async function render(ctx) {
  ctx.title('Account');
  let me;
  try {
    me = await api('/api/account/me', { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    ctx.main.replaceChildren(el('h1', {}, 'Account'), errorPanel(err, () => render(ctx)));
    return;
  }
  const u = me.user;
  const local = u.kind === 'local';
  ctx.main.replaceChildren(
    el('div', { class: 'page-head' }, el('div', {}, el('h1', {}, 'Account'))),
    el('section', { class: 'panel account', 'aria-labelledby': 'who-h' },
      el('div', { class: 'account-head' },
        el('span', { class: 'avatar big', 'aria-hidden': 'true' }, initials(u.name || u.email || u.id || '?')),
        el('div', {}, el('h2', { id: 'who-h' }, u.name || u.email || u.id), el('p', { class: 'muted' }, KIND[u.kind] || u.kind))),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Email'), el('dd', {}, u.email || '—'),
        el('dt', {}, 'Identifier'), el('dd', { class: 'mono' }, u.id),
        el('dt', {}, 'Groups'), el('dd', {}, u.groups && u.groups.length ? u.groups.map((g) => el('span', { class: 'tag' }, g)) : '—'),
        el('dt', {}, 'Organization'), el('dd', {}, me.organization.name, ' ', el('span', { class: 'muted mono' }, `(${me.organization.slug})`))),
      local
        ? el('p', { class: 'note' }, 'Local mode: there is no sign-in, and every request is the local administrator. That is why this gateway only listens on the loopback address.')
        : el('p', { class: 'note' }, 'Your identity comes from Cloudflare Access; change it there. ',
          el('a', { href: '/cdn-cgi/access/logout', 'data-reload': '' }, 'Sign out'), '.')));
}
