// One integration: its details, its connections (both owners), the ways to
// authenticate, and its tools.

import { alertBox, api, busy, confirmDialog, copy, el, errorPanel, field, kindLabel, loading, ownerLabel, select, toast, when } from '../lib.js';
import { toolBrowser } from '../tree.js';

export async function render(ctx) {
  const slug = ctx.params[0];
  ctx.title(slug);
  ctx.main.replaceChildren(loading('Loading the integration…'));
  let integ;
  try {
    integ = await api(`/api/integrations/${encodeURIComponent(slug)}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    ctx.main.replaceChildren(el('h1', {}, slug), errorPanel(err, () => render(ctx)));
    return;
  }
  ctx.title(integ.name);
  let conns = null; // the tree asks it only once a list has loaded
  const browser = toolBrowser(ctx, { integration: slug, emptyHint: () => conns && conns.emptyHint() });
  conns = connections(ctx, integ, () => browser.reload(), () => browser.redraw());
  ctx.main.replaceChildren(
    el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, el('a', { href: '/' }, 'Integrations'), el('span', { 'aria-hidden': 'true' }, '/'), el('span', {}, integ.name)),
    header(ctx, integ, () => Promise.all([conns.refreshAll(), browser.reload()])),
    conns.node,
    authSection(integ),
    el('section', { class: 'section', 'aria-labelledby': 'tools-h' },
      el('div', { class: 'section-head' }, el('h2', { id: 'tools-h' }, 'Tools'),
        el('a', { href: '/policies', class: 'button small' }, 'Manage policies')),
      browser.node));
}

function header(ctx, integ, refresh) {
  const title = el('h1', {}, integ.name);
  const desc = el('p', { class: 'lede' }, integ.description && integ.description !== integ.name ? integ.description : '');
  const edit = el('button', { type: 'button' }, 'Edit');
  const refreshBtn = el('button', { type: 'button', id: 'refresh-integration' }, 'Refresh tools');
  const del = integ.canRemove ? el('button', { type: 'button', class: 'danger', id: 'delete-integration' }, 'Delete') : null;
  const err = alertBox();
  const name = el('input', { name: 'name', value: integ.name, autocomplete: 'off' });
  const description = el('input', { name: 'description', value: integ.description || '', autocomplete: 'off' });
  const save = el('button', { type: 'submit', class: 'primary' }, 'Save');
  const cancel = el('button', { type: 'button' }, 'Cancel');
  const form = el('form', { class: 'panel', id: 'edit-integration', hidden: true }, el('div', { class: 'grid2' }, field('Name', name), field('Description', description)),
    el('div', { class: 'actions' }, cancel, save));
  edit.addEventListener('click', () => { form.hidden = false; name.focus(); });
  cancel.addEventListener('click', () => { form.hidden = true; edit.focus(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    await busy(form, async () => {
      try {
        const v = await api(`/api/integrations/${encodeURIComponent(integ.slug)}`, { method: 'PATCH', body: { name: name.value.trim(), description: description.value } });
        Object.assign(integ, v);
        title.textContent = v.name;
        desc.textContent = v.description && v.description !== v.name ? v.description : '';
        ctx.title(v.name);
        form.hidden = true;
        toast('Saved.');
      } catch (e2) {
        err.show(e2);
      }
    });
  });
  refreshBtn.addEventListener('click', () => busy(refreshBtn, async () => {
    err.show('');
    try {
      await refresh();
      toast('Tools refreshed.');
    } catch (e2) {
      err.show(e2);
    }
  }));
  if (del) {
    del.addEventListener('click', async () => {
      if (!(await confirmDialog(`Delete ${integ.name}?`, 'Its connections, their credentials and its tools are removed. Agents can no longer call them.', 'Delete integration'))) return;
      await busy(del, async () => {
        try {
          await api(`/api/integrations/${encodeURIComponent(integ.slug)}`, { method: 'DELETE' });
          toast(`Deleted ${integ.name}.`);
          ctx.navigate('/');
        } catch (e2) {
          err.show(e2);
        }
      });
    });
  }
  return el('div', {},
    el('div', { class: 'page-head' },
      el('div', { class: 'title-block' },
        el('div', { class: 'title-row' }, title, el('span', { class: `tag kind-${integ.kind}` }, kindLabel(integ.kind)),
          integ.source === 'caddyfile' ? el('span', { class: 'tag' }, 'Declared in the Caddyfile') : null),
        desc,
        el('p', { class: 'meta' }, el('span', { class: 'mono' }, `tools.${integ.slug}`), integ.displayUrl ? el('span', { class: 'mono truncate' }, integ.displayUrl) : null)),
      el('div', { class: 'actions' }, edit, refreshBtn, del)),
    err, form);
}

function connections(ctx, integ, changed, loaded) {
  const list = el('div', { id: 'connections', 'aria-live': 'polite' }, loading('Loading connections…'));
  const addBtn = el('button', { type: 'button', class: 'primary', id: 'add-connection', 'aria-expanded': 'false' }, 'Add connection');
  const formBox = el('div', {});
  const err = alertBox();
  let items = [];

  async function load() {
    try {
      items = await api(`/api/connections?integration=${encodeURIComponent(integ.slug)}`, { signal: ctx.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      list.replaceChildren(errorPanel(e, load));
      return;
    }
    draw();
    loaded();
    if ((!items.length || ctx.query.get('addConnection')) && !formBox.firstChild) openForm(false);
    if (ctx.query.get('addConnection')) {
      ctx.query.delete('addConnection');
      history.replaceState(null, '', location.pathname + (ctx.query.toString() ? '?' + ctx.query : ''));
    }
  }

  function draw() {
    if (!items.length) {
      list.replaceChildren(el('p', { class: 'muted' }, 'No connections yet. A connection holds the credential and turns this integration into tools, for the whole organization or just for you.'));
      return;
    }
    list.replaceChildren(el('ul', { class: 'conn-list' }, items.map(row)));
  }

  function row(c) {
    const method = integ.authMethods.find((m) => m.template === c.template);
    const refresh = el('button', { type: 'button', class: 'small' }, 'Refresh');
    const remove = el('button', { type: 'button', class: 'small danger' }, 'Remove');
    // An OAuth connection whose grant was revoked, or whose server moved to
    // another authorization server, signs in again under the same address.
    const signIn = method && method.kind === 'oauth' && c.source !== 'caddyfile'
      ? el('button', { type: 'button', class: 'small' }, 'Sign in again') : null;
    const actions = el('div', { class: 'actions' }, signIn, refresh, remove);
    const path = `/api/connections/${encodeURIComponent(c.owner)}/${encodeURIComponent(c.integration)}/${encodeURIComponent(c.name)}`;
    refresh.addEventListener('click', () => busy(refresh, async () => {
      err.show('');
      try {
        const v = await api(`${path}/refresh`, { method: 'POST' });
        toast(`${c.address}: ${v.toolCount} tools.`);
        await load();
        changed();
      } catch (e) {
        err.show(e);
      }
    }));
    signIn?.addEventListener('click', () => busy(signIn, async () => {
      err.show('');
      try {
        const r = await api('/api/oauth/start', { method: 'POST', body: { owner: c.owner, integration: c.integration, name: c.name, reconnect: true } });
        if (r.status === 'connected') {
          toast(`Signed ${c.address} in again.`);
          await load();
          changed();
          return;
        }
        const u = new URL(r.authorizationUrl);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('The authorization URL is not an http(s) address.');
        location.assign(u.href);
      } catch (e) {
        err.show(e);
      }
    }));
    remove.addEventListener('click', async () => {
      if (!(await confirmDialog(`Remove ${c.name}?`, `${c.address} and its credential are deleted. Agents can no longer call its tools.`, 'Remove connection'))) return;
      await busy(actions, async () => {
        err.show('');
        try {
          await api(path, { method: 'DELETE' });
          toast(`Removed ${c.address}.`);
          await load();
          changed();
        } catch (e) {
          err.show(e);
        }
      });
    });
    // The connection's own MCP endpoint, for clients that do not write code.
    const directURL = location.origin + c.directPath;
    const copyDirect = el('button', { type: 'button', class: 'small copy-direct', 'aria-label': `Copy the MCP URL of ${c.address}` }, 'Copy');
    copyDirect.addEventListener('click', () => copy(directURL, copyDirect));
    return el('li', { class: 'conn' },
      el('div', { class: 'conn-main' },
        el('div', { class: 'conn-title' }, el('span', { class: 'conn-name' }, c.name),
          el('span', { class: `tag owner-${c.owner}` }, ownerLabel(c.owner))),
        el('code', { class: 'address' }, c.address),
        el('div', { class: 'direct-row' }, el('span', { class: 'muted' }, 'Direct MCP endpoint'),
          el('code', { class: 'direct-url' }, directURL), copyDirect),
        el('p', { class: 'meta' },
          el('span', {}, method ? method.label || method.kind : c.template),
          c.identityLabel ? el('span', {}, c.identityLabel) : null,
          el('span', {}, `${c.toolCount} ${c.toolCount === 1 ? 'tool' : 'tools'}`),
          c.expiresAt ? el('span', {}, `token expires ${when(c.expiresAt)}`) : null),
        heldNotice(c)),
      actions);
  }

  // Tools the upstream changed or added since a person last approved the
  // connection's tools: agents cannot see or call them until a refresh. The
  // person sees the new text, and what it would replace, to review it.
  function heldNotice(c) {
    const held = Object.entries(c.heldTools || {}).sort(([a], [b]) => a.localeCompare(b));
    if (!held.length) return null;
    const items = held.map(([name, h]) => el('li', {},
      el('span', { class: 'mono' }, `${name} (${h.reason === 'new' ? 'new' : 'changed'})`),
      el('span', { class: 'held-now' }, `Now: ${h.tool && h.tool.description ? h.tool.description : '(no description)'}`),
      h.before ? el('span', { class: 'held-before' }, `Approved: ${h.before.description || '(no description)'}`) : null,
      h.before && JSON.stringify(h.before.inputSchema || null) !== JSON.stringify(h.tool.inputSchema || null)
        ? el('span', { class: 'held-before' }, 'Its input schema changed as well.') : null));
    return el('div', { class: 'held', role: 'status' },
      el('p', {}, `${held.length} ${held.length === 1 ? 'tool is' : 'tools are'} held from agents: the server changed or added ${held.length === 1 ? 'it' : 'them'} after the tools were approved. `,
        'Review them below, then Refresh to approve the tools as they are now.'),
      el('ul', {}, items));
  }

  function openForm(focus) {
    formBox.replaceChildren(connectionForm(ctx, integ, async () => {
      formBox.replaceChildren();
      addBtn.setAttribute('aria-expanded', 'false');
      addBtn.hidden = false;
      await load();
      changed();
    }, () => {
      formBox.replaceChildren();
      addBtn.setAttribute('aria-expanded', 'false');
      addBtn.hidden = false;
      addBtn.focus();
    }));
    addBtn.setAttribute('aria-expanded', 'true');
    addBtn.hidden = true;
    if (!items.length) list.replaceChildren();
    if (focus) formBox.querySelector('input, select').focus();
  }
  addBtn.addEventListener('click', () => openForm(true));

  async function refreshAll() {
    for (const c of items) {
      await api(`/api/connections/${encodeURIComponent(c.owner)}/${encodeURIComponent(c.integration)}/${encodeURIComponent(c.name)}/refresh`, { method: 'POST' });
    }
    await load();
  }

  // emptyHint explains an empty tool list when connections exist: their
  // tools are all held for review, or they have none.
  function emptyHint() {
    if (!items.length) return null;
    const held = items.reduce((n, c) => n + Object.keys(c.heldTools || {}).length, 0);
    if (held) {
      return { title: 'Tools held for review', text: `The server changed or added ${held === 1 ? 'a tool' : `${held} tools`} after the tools were approved, so agents see none of them. Review the notice under Connections, then Refresh to approve them.` };
    }
    return { title: 'No tools', text: 'The connection lists no tools. Refresh it after the server offers some.' };
  }

  load();
  return {
    refreshAll,
    emptyHint,
    node: el('section', { class: 'section', 'aria-labelledby': 'conn-h' },
      el('div', { class: 'section-head' }, el('h2', { id: 'conn-h' }, 'Connections'), addBtn),
      err, formBox, list),
  };
}

/** connectionForm creates a connection with an API key, none, or OAuth sign-in. */
function connectionForm(ctx, integ, onDone, onCancel) {
  const methods = integ.authMethods.length ? integ.authMethods : [{ template: 'none', kind: 'none', label: 'No authentication' }];
  const preferred = methods.find((m) => m.kind !== 'none') || methods[0];
  const owner = select([['org', 'Organization (everyone)'], ['user', 'Personal (only you)']], 'org', { name: 'owner', id: 'conn-owner' });
  const name = el('input', { name: 'name', id: 'conn-name', value: 'main', autocomplete: 'off', spellcheck: 'false', class: 'mono', required: true });
  const method = select(methods.map((m) => [m.template, m.label || m.kind]), preferred.template, { name: 'template', id: 'conn-template' });
  const label = el('input', { name: 'identityLabel', autocomplete: 'off', placeholder: 'e.g. the account this key belongs to' });
  const secrets = el('div', { class: 'secrets' });
  const oauthBox = el('div', {});
  const err = alertBox();
  const submit = el('button', { type: 'submit', class: 'primary', id: 'save-connection' }, 'Add connection');
  const cancel = el('button', { type: 'button' }, 'Cancel');
  const form = el('form', { class: 'panel conn-form', id: 'connection-form', autocomplete: 'off' },
    el('h3', {}, `Connect ${integ.name}`),
    el('div', { class: 'grid2' },
      field('Owner', owner),
      field('Connection name', name, `Tools are called as tools.${integ.slug}.<owner>.<name>.…`)),
    field('Authentication', method),
    secrets, oauthBox,
    field('Label (optional)', label),
    err,
    el('div', { class: 'actions' }, cancel, submit));

  const current = () => methods.find((m) => m.template === method.value);
  function drawMethod() {
    const m = current();
    oauthBox.replaceChildren();
    submit.textContent = m.kind === 'oauth' ? 'Sign in' : 'Add connection';
    if (m.kind !== 'apikey') {
      secrets.replaceChildren(m.kind === 'oauth'
        ? el('p', { class: 'hint' }, 'You will be sent to the provider to sign in, then back here.')
        : el('p', { class: 'hint' }, 'Requests are sent without a credential.'));
      return;
    }
    const vars = [];
    for (const p of m.placements || []) {
      if (p.literal) continue;
      const v = p.variable || 'token';
      if (!vars.find((x) => x.v === v)) vars.push({ v, p });
    }
    secrets.replaceChildren(...vars.map(({ v, p }) => field(
      vars.length === 1 ? 'API key' : v,
      el('input', { type: 'password', name: `secret-${v}`, 'data-variable': v, autocomplete: 'new-password', spellcheck: 'false', required: true, class: 'secret' }),
      `Sent as the ${p.carrier === 'query' ? 'query parameter' : 'header'} ${p.name}${p.prefix ? ` with the prefix “${p.prefix.trim()}”` : ''}. It is stored encrypted and never shown again.`)));
  }
  method.addEventListener('change', drawMethod);
  cancel.addEventListener('click', onCancel);
  drawMethod();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    const m = current();
    await busy(form, async () => {
      try {
        if (m.kind === 'oauth') {
          await startOAuth(m);
          return;
        }
        const body = { owner: owner.value, name: name.value.trim(), integration: integ.slug, template: m.template, identityLabel: label.value.trim() };
        if (m.kind === 'apikey') {
          body.values = {};
          for (const input of secrets.querySelectorAll('input.secret')) body.values[input.dataset.variable] = input.value;
        }
        const c = await api('/api/connections', { method: 'POST', body });
        for (const input of secrets.querySelectorAll('input.secret')) input.value = '';
        toast(`Connected ${c.address} with ${c.toolCount} tools.`);
        await onDone();
      } catch (e2) {
        err.show(e2);
      }
    });
  });

  async function startOAuth(m, client) {
    const body = { owner: owner.value, name: name.value.trim(), integration: integ.slug, template: m.template, identityLabel: label.value.trim() };
    if (client) { body.client = client; body.clientOwner = owner.value; }
    let r;
    try {
      r = await api('/api/oauth/start', { method: 'POST', body });
    } catch (e2) {
      if (!client && e2.body?.code === 'oauth_client_required') {
        oauthBox.replaceChildren(clientForm(m));
        return;
      }
      throw e2;
    }
    if (r.status === 'connected') {
      toast(`Connected ${r.connection.address}.`);
      await onDone();
      return;
    }
    const u = new URL(r.authorizationUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('The authorization URL is not an http(s) address.');
    location.assign(u.href);
  }

  /** clientForm registers the OAuth app someone created at the provider. */
  function clientForm(m) {
    const clientId = el('input', { name: 'clientId', autocomplete: 'off', spellcheck: 'false', class: 'mono', required: true });
    const clientSecret = el('input', { type: 'password', name: 'clientSecret', autocomplete: 'new-password', spellcheck: 'false' });
    const cerr = alertBox();
    const go = el('button', { type: 'button', class: 'primary' }, 'Register and sign in');
    const box = el('fieldset', { class: 'oauth-client' },
      el('legend', {}, 'OAuth app'),
      el('p', { class: 'hint' }, 'This provider needs an OAuth app registered with it. Create one there with the callback URL below, then enter its credentials.'),
      el('code', { class: 'block' }, `${location.origin}/api/oauth/callback`),
      field('Client ID', clientId),
      field('Client secret (for confidential apps)', clientSecret, 'Stored encrypted; never shown again.'),
      cerr, el('div', { class: 'actions' }, go));
    go.addEventListener('click', () => busy(go, async () => {
      cerr.show('');
      const slug = `${integ.slug}-${m.template}`.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').slice(0, 63);
      try {
        await api('/api/oauth/clients', { method: 'POST', body: { owner: owner.value, slug, clientId: clientId.value.trim(), clientSecret: clientSecret.value, integration: integ.slug, template: m.template } })
          .catch((e3) => { if (e3.status !== 409) throw e3; });
        clientSecret.value = '';
        await startOAuth(m, slug);
      } catch (e3) {
        cerr.show(e3);
      }
    }));
    return box;
  }
  return form;
}

function authSection(integ) {
  const methods = integ.authMethods.filter((m) => m.kind !== 'none');
  return el('section', { class: 'section', 'aria-labelledby': 'auth-h' },
    el('h2', { id: 'auth-h' }, 'Authentication'),
    methods.length
      ? el('ul', { class: 'auth-list' }, methods.map((m) => el('li', {},
        el('span', { class: 'auth-label' }, m.label || m.kind),
        m.placements && m.placements.length ? el('span', { class: 'meta' }, m.placements.map((p) => `${p.carrier === 'query' ? 'query' : 'header'} ${p.name}`).join(', ')) : null,
        m.oauth ? el('span', { class: 'meta' }, `OAuth ${m.oauth.grant.replace('_', ' ')}${m.oauth.scopes && m.oauth.scopes.length ? ` · scopes ${m.oauth.scopes.join(' ')}` : ''}`) : null)))
      : el('p', { class: 'muted' }, 'This integration declares no authentication.'));
}
