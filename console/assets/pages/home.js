// Integrations: the home page. Lists integrations, finds or adds one from a
// pasted URL, and shows how to connect an agent.

import { alertBox, api, busy, copy, el, errorPanel, field, isURL, kindLabel, loading, select, uid } from '../lib.js';

const MODES = [
  ['browser', 'Browser approval'],
  ['model', 'Model resume tool'],
  ['native', 'Native elicitation'],
];

const MODE_HINTS = {
  browser: 'The agent gets a link; you approve calls in this console and the agent waits for your decision.',
  model: 'The agent asks you in the chat and answers with its resume tool.',
  native: 'The agent’s client shows the approval itself (MCP elicitation); it must support it.',
};

export async function render(ctx) {
  ctx.title('Integrations');
  const list = el('div', { class: 'cards', id: 'integrations', 'aria-live': 'polite' }, loading('Loading integrations…'));
  const search = searchBox(ctx, (q) => filter(q));
  let all = [];

  const head = el('div', { class: 'page-head' },
    el('div', {}, el('h1', {}, 'Integrations'),
      el('p', { class: 'lede' }, 'APIs and MCP servers your agents can call through this gateway.')));

  ctx.main.replaceChildren(
    head,
    el('div', { class: 'home-grid' },
      el('div', { class: 'home-main' },
        search,
        list,
        el('section', { class: 'add-manually', 'aria-labelledby': 'add-manually-h' },
          el('h2', { id: 'add-manually-h' }, 'Or add manually'),
          el('div', { class: 'kind-buttons' },
            kindButton('openapi', 'OpenAPI', 'A REST API described by an OpenAPI or Swagger document'),
            kindButton('mcp', 'MCP server', 'A remote MCP server over streamable HTTP or SSE'),
            kindButton('graphql', 'GraphQL', 'A GraphQL endpoint, read by introspection')))),
      el('aside', { class: 'home-side' }, connectCard())));

  function filter(q) {
    q = q.trim().toLowerCase();
    const shown = q && !isURL(q) ? all.filter((i) => [i.name, i.slug, i.description, i.displayUrl].join(' ').toLowerCase().includes(q)) : all;
    renderList(shown, q);
  }

  function renderList(items, q) {
    if (!all.length) {
      list.replaceChildren(el('div', { class: 'empty' },
        el('p', { class: 'empty-title' }, 'No integrations yet'),
        el('p', {}, 'Paste the URL of an OpenAPI description, an MCP server or a GraphQL endpoint above, or add one manually below.')));
      return;
    }
    if (!items.length) {
      list.replaceChildren(el('p', { class: 'muted' }, `No integration matches “${q}”.`));
      return;
    }
    list.replaceChildren(...items.map(card));
  }

  try {
    all = await api('/api/integrations', { signal: ctx.signal });
    renderList(all, '');
  } catch (err) {
    if (err.name === 'AbortError') return;
    list.replaceChildren(errorPanel(err, () => render(ctx)));
  }
}

function card(i) {
  return el('a', { class: 'card integration-card', href: `/integrations/${encodeURIComponent(i.slug)}` },
    el('span', { class: 'card-top' },
      el('span', { class: 'monogram', 'aria-hidden': 'true' }, (i.name || i.slug).trim().slice(0, 1).toUpperCase()),
      el('span', { class: 'card-title' }, i.name || i.slug),
      el('span', { class: `tag kind-${i.kind}` }, kindLabel(i.kind))),
    i.description && i.description !== i.name ? el('span', { class: 'card-desc' }, i.description) : null,
    el('span', { class: 'card-meta' },
      el('span', {}, `${i.toolCount} ${i.toolCount === 1 ? 'tool' : 'tools'}`),
      el('span', {}, `${i.connectionCount} ${i.connectionCount === 1 ? 'connection' : 'connections'}`),
      i.displayUrl ? el('span', { class: 'mono truncate' }, i.displayUrl) : null));
}

function kindButton(kind, title, desc) {
  return el('a', { class: 'kind-button', href: `/integrations/add/${kind}` },
    el('span', { class: 'kind-title' }, title), el('span', { class: 'kind-desc' }, desc));
}

function searchBox(ctx, onFilter) {
  const input = el('input', { type: 'search', id: 'find', name: 'q', placeholder: 'Search or paste a URL…', autocomplete: 'off',
    oninput: () => { onFilter(input.value); out.show(''); note.replaceChildren(); } });
  const button = el('button', { type: 'submit', class: 'primary' }, 'Find');
  const out = alertBox();
  const note = el('div', { class: 'detect-note', 'aria-live': 'polite' });
  const form = el('form', { class: 'search', role: 'search', 'aria-label': 'Integrations', novalidate: true },
    el('label', { for: 'find', class: 'visually-hidden' }, 'Search integrations or paste a URL to add one'),
    el('div', { class: 'search-row' }, input, button), out, note);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = input.value.trim();
    out.show('');
    note.replaceChildren();
    if (!isURL(v)) {
      onFilter(v);
      return;
    }
    await busy(form, async () => {
      try {
        note.replaceChildren(el('p', { class: 'muted' }, 'Looking at ', el('span', { class: 'mono' }, v), '…'));
        const d = await api('/api/integrations/detect', { method: 'POST', body: { url: v } });
        if (d.kind === 'openapi' || d.kind === 'mcp' || d.kind === 'graphql') {
          ctx.navigate(`/integrations/add/${d.kind}?url=${encodeURIComponent(v)}`);
          return;
        }
        note.replaceChildren(el('div', { class: 'panel' },
          el('p', {}, d.message || 'This URL was not recognised. Choose the kind of integration to add it manually.'),
          el('div', { class: 'row' }, ...['openapi', 'mcp', 'graphql'].map((k) =>
            el('a', { class: 'button', href: `/integrations/add/${k}?url=${encodeURIComponent(v)}` }, `Add as ${kindLabel(k)}`)))));
      } catch (err) {
        note.replaceChildren();
        out.show(err);
      }
    });
  });
  return form;
}

function connectCard() {
  const base = `${location.origin}/mcp`;
  const modeSel = select(MODES, 'browser', { id: uid('mode') });
  const url = el('code', { class: 'url', id: 'mcp-url' });
  const cmd = el('pre', { class: 'command', id: 'add-mcp' });
  const hint = el('p', { class: 'hint' });
  const copyUrl = el('button', { type: 'button', class: 'small' }, 'Copy URL');
  const copyCmd = el('button', { type: 'button', class: 'primary', id: 'copy-command' }, 'Copy command');
  function update() {
    const u = `${base}?elicitation_mode=${modeSel.value}`;
    url.textContent = u;
    cmd.textContent = `npx add-mcp ${u} --transport http --name executor`;
    hint.textContent = MODE_HINTS[modeSel.value];
  }
  modeSel.addEventListener('change', update);
  copyUrl.addEventListener('click', () => copy(url.textContent, copyUrl));
  copyCmd.addEventListener('click', () => copy(cmd.textContent, copyCmd));
  update();
  // Offer only the modes the operator allows (approval_modes), browser
  // first if it is one of them, else the gateway's default.
  api('/api/config').then((cfg) => {
    const allowed = Array.isArray(cfg.approvalModes) && cfg.approvalModes.length ? cfg.approvalModes : MODES.map(([m]) => m);
    for (const o of [...modeSel.options]) {
      if (!allowed.includes(o.value)) o.remove();
    }
    modeSel.value = allowed.includes('browser') ? 'browser' : allowed[0];
    update();
  }, () => {});
  return el('section', { class: 'card connect', 'aria-labelledby': 'connect-h' },
    el('h2', { id: 'connect-h' }, 'Connect an agent'),
    el('p', { class: 'muted' }, 'Point any MCP client at this gateway. Its tools appear to the agent as one code-mode tool.'),
    el('div', { class: 'label-row' }, el('span', { class: 'label' }, 'MCP URL'), copyUrl),
    url,
    el('span', { class: 'label' }, 'Add it to your agent'),
    cmd,
    copyCmd,
    el('details', { class: 'advanced' },
      el('summary', {}, 'Resume approvals'),
      field('How the agent asks for approval', modeSel),
      hint));
}
