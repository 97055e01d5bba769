// Tools: every tool the signed-in person can see, across integrations.

import { api, el } from '../lib.js';
import { toolBrowser } from '../tree.js';

export async function render(ctx) {
  ctx.title('Tools');
  const names = {};
  try {
    for (const i of await api('/api/integrations', { signal: ctx.signal })) names[i.slug] = i.name;
  } catch (err) {
    if (err.name === 'AbortError') return;
    // Names are a nicety; the tree falls back to slugs.
  }
  const browser = toolBrowser(ctx, { names });
  ctx.main.replaceChildren(
    el('div', { class: 'page-head' },
      el('div', {}, el('h1', {}, 'Tools'),
        el('p', { class: 'lede' }, 'Every tool agents can reach through this gateway, and the policy that applies to it.')),
      el('div', { class: 'actions' }, el('a', { href: '/policies', class: 'button' }, 'Manage policies'))),
    browser.node);
}
