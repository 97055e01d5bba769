// The console: a small client-side router over plain ES modules. Each page
// is a module whose render(ctx) fills <main>. Links inside the console are
// followed with history.pushState; the server answers any extension-less
// path with index.html, so a reload or a shared link lands on the same page.

import { api, el, errorPanel, initials } from './lib.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const approvalsBadge = document.getElementById('approvals-count');

const routes = [
  { path: /^\/$/, nav: 'integrations', load: () => import('./pages/home.js') },
  { path: /^\/integrations\/add\/(openapi|mcp|graphql)$/, nav: 'integrations', load: () => import('./pages/add.js') },
  { path: /^\/integrations\/([a-z0-9][a-z0-9_-]*)$/, nav: 'integrations', load: () => import('./pages/integration.js') },
  { path: /^\/tools$/, nav: 'tools', load: () => import('./pages/tools.js') },
  { path: /^\/policies$/, nav: 'policies', load: () => import('./pages/policies.js') },
  { path: /^\/approvals$/, nav: 'approvals', load: () => import('./pages/approvals.js') },
  { path: /^\/activity$/, nav: 'activity', load: () => import('./pages/activity.js') },
  { path: /^\/account$/, nav: 'account', load: () => import('./pages/account.js') },
  { path: /^\/resume\/([A-Za-z0-9_.-]+)$/, nav: 'approvals', load: () => import('./pages/resume.js') },
];

let current = null; // { controller, cleanups }
let firstRender = true;
let me = null;

/** navigate shows another console page. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

async function render() {
  if (current) {
    current.controller.abort();
    current.cleanups.forEach((f) => f());
  }
  const controller = new AbortController();
  const cleanups = [];
  current = { controller, cleanups };
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const route = routes.find((r) => r.path.test(path));
  for (const a of document.querySelectorAll('#nav a')) {
    if (route && a.dataset.nav === route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.classList.remove('nav-open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
  const ctx = {
    params: route ? path.match(route.path).slice(1).map(decodeURIComponent) : [],
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    main,
    me,
    navigate,
    title: (t) => { document.title = t ? `${t} · Executor` : 'Executor'; },
    onLeave: (f) => cleanups.push(f),
    refreshApprovals,
  };
  main.setAttribute('aria-busy', 'true');
  try {
    if (!route) {
      ctx.title('Not found');
      main.replaceChildren(el('h1', { tabindex: '-1' }, 'Page not found'),
        el('p', {}, 'There is no console page at this address. ', el('a', { href: '/' }, 'Go to Integrations'), '.'));
    } else {
      const page = await route.load();
      await page.render(ctx);
    }
  } catch (err) {
    if (err.name === 'AbortError') return;
    main.replaceChildren(el('h1', { tabindex: '-1' }, 'Something went wrong'), errorPanel(err, () => render()));
  } finally {
    if (current && current.controller === controller) main.removeAttribute('aria-busy');
  }
  if (!firstRender) {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: true });
    }
    window.scrollTo(0, 0);
  }
  firstRender = false;
}

// Follow console links without reloading the page.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || a.dataset.reload !== undefined) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || /^\/(api|cdn-cgi|mcp|assets)(\/|$)/.test(url.pathname) || /\.[a-z0-9]+$/i.test(url.pathname)) return;
  e.preventDefault();
  if (url.pathname === location.pathname && url.search === location.search) {
    if (url.hash) location.hash = url.hash;
    return;
  }
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', () => render());
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.body.classList.contains('nav-open')) {
    document.body.classList.remove('nav-open');
    const toggle = document.getElementById('menu-toggle');
    toggle.setAttribute('aria-expanded', 'false');
    toggle.focus();
  }
});

document.getElementById('menu-toggle').addEventListener('click', (e) => {
  const open = document.body.classList.toggle('nav-open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});

/** refreshApprovals updates the pending-approvals count in the navigation. */
async function refreshApprovals() {
  try {
    const items = await api('/api/executions?status=paused');
    approvalsBadge.textContent = items.length ? String(items.length) : '';
    approvalsBadge.hidden = !items.length;
    approvalsBadge.setAttribute('aria-label', `${items.length} pending`);
  } catch {
    approvalsBadge.hidden = true;
  }
}

async function start() {
  try {
    me = await api('/api/account/me');
    const name = me.user.name || me.user.email || me.user.id;
    who.replaceChildren(
      el('a', { href: '/account', class: 'who-link' },
        el('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)),
        el('span', { class: 'who-text' }, el('span', { class: 'who-name' }, name), el('span', { class: 'who-org' }, me.organization.name))));
  } catch {
    // The page itself will show the error when its own request fails.
  }
  await render();
  refreshApprovals();
  setInterval(() => { if (!document.hidden) refreshApprovals(); }, 15000);
}

start();
