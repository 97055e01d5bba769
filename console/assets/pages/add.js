// Add an integration: OpenAPI (URL or pasted document, with a preview),
// an MCP server (probe, transport, auth) or a GraphQL endpoint.

import { alertBox, api, busy, el, field, isURL, select, toast } from '../lib.js';

const TITLES = { openapi: 'Add an OpenAPI integration', mcp: 'Add an MCP server', graphql: 'Add a GraphQL integration' };

export async function render(ctx) {
  const kind = ctx.params[0];
  ctx.title(TITLES[kind]);
  const body = kind === 'openapi' ? openapi(ctx) : kind === 'mcp' ? mcp(ctx) : graphql(ctx);
  ctx.main.replaceChildren(
    el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, el('a', { href: '/' }, 'Integrations'), el('span', { 'aria-hidden': 'true' }, '/'), el('span', {}, 'Add')),
    el('div', { class: 'page-head' }, el('div', {}, el('h1', {}, TITLES[kind]))),
    el('div', { class: 'tabs', role: 'navigation', 'aria-label': 'Kind of integration' },
      ...[['openapi', 'OpenAPI'], ['mcp', 'MCP server'], ['graphql', 'GraphQL']].map(([k, l]) =>
        el('a', { href: `/integrations/add/${k}${ctx.query.get('url') ? '?url=' + encodeURIComponent(ctx.query.get('url')) : ''}`, 'aria-current': k === kind ? 'page' : null }, l))),
    body);
}

/** slugify mirrors the server's: lower case, runs of other characters as one '-', at most 40. */
function slugify(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 40).replace(/-+$/, '');
}

/** nameFields are the name and slug inputs; the slug follows the name until edited. */
function nameFields(defaultName = '') {
  const name = el('input', { name: 'name', autocomplete: 'off', value: defaultName });
  const slug = el('input', { name: 'slug', autocomplete: 'off', pattern: '[a-z0-9][a-z0-9_-]{0,62}', spellcheck: 'false', class: 'mono', value: slugify(defaultName) });
  let touched = false;
  name.addEventListener('input', () => { if (!touched) slug.value = slugify(name.value); });
  slug.addEventListener('input', () => { touched = slug.value !== ''; });
  return {
    name, slug,
    set(n) { if (!name.value) { name.value = n; if (!touched) slug.value = slugify(n); } },
    nodes: el('div', { class: 'grid2' },
      field('Name', name),
      field('Slug', slug, 'Tools are addressed as tools.<slug>.…; letters, digits, - and _.')),
  };
}

/** authFields choose none, a header credential, or OAuth (MCP only). */
function authFields(withOAuth) {
  const opts = [['none', 'No authentication'], ['header', 'API key or token in a header']];
  if (withOAuth) opts.push(['oauth2', 'OAuth (discovered from the server)']);
  const kind = select(opts, 'none', { name: 'auth' });
  const header = el('input', { name: 'headerName', value: 'Authorization', autocomplete: 'off' });
  const prefix = el('input', { name: 'prefix', value: 'Bearer ', autocomplete: 'off' });
  const extra = el('div', { class: 'grid2', hidden: true },
    field('Header name', header), field('Value prefix', prefix, 'Put before the key, e.g. “Bearer ”. The key itself is entered per connection.'));
  kind.addEventListener('change', () => { extra.hidden = kind.value !== 'header'; });
  return {
    kind,
    value: () => (kind.value === 'none' ? null : kind.value === 'header' ? { kind: 'header', headerName: header.value.trim(), prefix: prefix.value } : { kind: 'oauth2' }),
    nodes: el('fieldset', {}, el('legend', {}, 'Authentication'), field('Connections authenticate with', kind), extra),
  };
}

function done(ctx, slug, toolCount) {
  toast(`Added ${slug}${toolCount !== undefined ? ` with ${toolCount} tools` : ''}.`);
  ctx.navigate(`/integrations/${encodeURIComponent(slug)}?addConnection=1`);
}

// ---- OpenAPI ----

function openapi(ctx) {
  const srcKind = select([['url', 'From a URL'], ['blob', 'Paste the document']], 'url', { name: 'source' });
  const url = el('input', { type: 'url', name: 'url', id: 'spec-url', placeholder: 'https://api.example.com/openapi.json', autocomplete: 'off', value: ctx.query.get('url') || '' });
  const text = el('textarea', { name: 'document', id: 'spec-text', rows: '10', spellcheck: 'false', class: 'mono', placeholder: 'openapi: 3.1.0\ninfo:\n  title: …' });
  const urlField = field('OpenAPI description URL', url);
  const textField = field('OpenAPI or Swagger document (JSON or YAML)', text);
  textField.hidden = true;
  srcKind.addEventListener('change', () => {
    urlField.hidden = srcKind.value !== 'url';
    textField.hidden = srcKind.value === 'url';
    preview.replaceChildren();
    details.hidden = true;
  });
  const err = alertBox();
  const previewBtn = el('button', { type: 'submit', class: 'primary', id: 'preview' }, 'Preview');
  const preview = el('div', { id: 'preview-result', 'aria-live': 'polite' });

  const names = nameFields();
  const baseURL = el('input', { type: 'url', name: 'baseUrl', id: 'base-url', autocomplete: 'off', list: 'servers' });
  const servers = el('datalist', { id: 'servers' });
  const description = el('input', { name: 'description', autocomplete: 'off' });
  const addErr = alertBox();
  const addBtn = el('button', { type: 'submit', class: 'primary', id: 'add' }, 'Add integration');
  const details = el('form', { class: 'panel', hidden: true, id: 'add-form' },
    el('h2', {}, 'Details'),
    names.nodes,
    field('Base URL', baseURL, 'Where requests go. Defaults to the document’s first server.'), servers,
    field('Description', description),
    addErr,
    el('div', { class: 'actions' }, addBtn));

  const source = () => (srcKind.value === 'url' ? url.value.trim() : text.value);
  const form = el('form', { class: 'panel', id: 'spec-form' },
    field('Source', srcKind), urlField, textField, err, el('div', { class: 'actions' }, previewBtn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    const spec = source();
    if (!spec.trim()) { err.show('Give the URL of the description, or paste it.'); return; }
    if (srcKind.value === 'url' && !isURL(spec)) { err.show('The URL must start with http:// or https://.'); return; }
    await busy(form, async () => {
      try {
        const p = await api('/api/openapi/preview', { method: 'POST', body: { spec } });
        showPreview(p);
      } catch (e2) {
        preview.replaceChildren();
        details.hidden = true;
        err.show(e2);
      }
    });
  });

  function showPreview(p) {
    const auth = (p.authStrategies || []).filter((a) => a.kind !== 'none');
    preview.replaceChildren(el('section', { class: 'panel preview', 'aria-labelledby': 'preview-h' },
      el('div', { class: 'preview-head' },
        el('h2', { id: 'preview-h' }, p.title || 'Untitled API'),
        p.version ? el('span', { class: 'tag' }, `v${p.version}`) : null),
      el('dl', { class: 'facts' },
        el('dt', {}, 'Operations'), el('dd', {}, String(p.operationCount)),
        el('dt', {}, 'Servers'), el('dd', {}, p.servers.length ? p.servers.map((s) => el('span', { class: 'mono block' }, s)) : 'None declared'),
        el('dt', {}, 'Authentication'), el('dd', { id: 'detected-auth' }, auth.length ? auth.map((a) => el('span', { class: 'block' }, a.label)) : 'None detected'),
        p.tags && p.tags.length ? [el('dt', {}, 'Tags'), el('dd', {}, p.tags.map((t) => el('span', { class: 'tag' }, t)))] : null),
      el('div', { class: 'table-wrap' },
        el('table', { class: 'ops stack' },
          el('caption', { class: 'visually-hidden' }, 'Operations'),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Method'), el('th', { scope: 'col' }, 'Path'), el('th', { scope: 'col' }, 'Tool'), el('th', { scope: 'col' }, 'Summary'))),
          el('tbody', {}, p.operations.map((o) => el('tr', {},
            el('td', { 'data-label': 'Method' }, el('span', { class: `method m-${o.method}` }, o.method.toUpperCase())),
            el('td', { class: 'mono', 'data-label': 'Path' }, o.path),
            el('td', { class: 'mono', 'data-label': 'Tool' }, o.tool),
            el('td', { 'data-label': 'Summary' }, el('span', {}, o.summary || '', o.deprecated ? el('span', { class: 'tag' }, 'deprecated') : null)))))))));
    names.set(p.title || '');
    servers.replaceChildren(...p.servers.map((s) => el('option', { value: s })));
    if (!baseURL.value && p.servers.length && isURL(p.servers[0])) baseURL.value = p.servers[0];
    details.hidden = false;
  }

  details.addEventListener('submit', async (e) => {
    e.preventDefault();
    addErr.show('');
    const body = {
      spec: srcKind.value === 'url' ? { kind: 'url', url: url.value.trim() } : { kind: 'blob', value: text.value },
      name: names.name.value.trim(), slug: names.slug.value.trim(), description: description.value.trim(), baseUrl: baseURL.value.trim(),
    };
    await busy(details, async () => {
      try {
        const r = await api('/api/openapi/specs', { method: 'POST', body });
        done(ctx, r.slug, r.toolCount);
      } catch (e2) {
        addErr.show(e2);
      }
    });
  });

  if (url.value) queueMicrotask(() => form.requestSubmit());
  return el('div', { class: 'stack' }, form, preview, details);
}

// ---- MCP ----

function mcp(ctx) {
  const transport = select([['remote', 'Remote (HTTP)'], ['stdio', 'Local command (stdio)']], 'remote', { name: 'transport' });
  const endpoint = el('input', { type: 'url', name: 'endpoint', id: 'mcp-endpoint', placeholder: 'https://mcp.example.com/mcp', autocomplete: 'off', value: ctx.query.get('url') || '' });
  const remoteTransport = select([['auto', 'Automatic (streamable HTTP, then SSE)'], ['streamable-http', 'Streamable HTTP'], ['sse', 'HTTP + SSE (legacy)']], 'auto', { name: 'remoteTransport' });
  const command = el('input', { name: 'command', placeholder: 'npx', autocomplete: 'off', class: 'mono' });
  const args = el('input', { name: 'args', placeholder: '-y @modelcontextprotocol/server-everything', autocomplete: 'off', class: 'mono' });
  const probeBtn = el('button', { type: 'button', id: 'probe' }, 'Probe');
  const endpointField = field('Endpoint', endpoint, 'Probing connects without credentials and reads the server’s name and sign-in needs.');
  const endpointRow = el('div', { class: 'input-row' });
  endpoint.replaceWith(endpointRow);
  endpointRow.append(endpoint, probeBtn);
  const remote = el('div', {}, endpointField, field('Transport', remoteTransport));
  const stdio = el('div', { hidden: true }, field('Command', command), field('Arguments', args, 'Separated by spaces.'));
  transport.addEventListener('change', () => {
    remote.hidden = transport.value !== 'remote';
    stdio.hidden = transport.value === 'remote';
  });
  const names = nameFields();
  const description = el('input', { name: 'description', autocomplete: 'off' });
  const auth = authFields(true);
  const probeOut = el('div', { id: 'probe-result', 'aria-live': 'polite' });
  const err = alertBox();
  const addBtn = el('button', { type: 'submit', class: 'primary', id: 'add' }, 'Add MCP server');
  const form = el('form', { class: 'panel', id: 'add-form' },
    field('Runs as', transport), remote, stdio, probeOut, names.nodes, field('Description', description), auth.nodes, err,
    el('div', { class: 'actions' }, addBtn));

  probeBtn.addEventListener('click', async () => {
    err.show('');
    if (!isURL(endpoint.value)) { err.show('Give the server’s URL first; it must start with http:// or https://.'); return; }
    await busy(probeBtn, async () => {
      try {
        const r = await api('/api/mcp/probe', { method: 'POST', body: { endpoint: endpoint.value.trim() } });
        probeOut.replaceChildren(el('div', { class: 'panel ok-panel' },
          el('p', {}, r.serverName ? `Found the MCP server “${r.serverName}”${r.serverVersion ? ` ${r.serverVersion}` : ''}.` : 'Found an MCP server.'),
          el('dl', { class: 'facts' },
            el('dt', {}, 'Transport'), el('dd', {}, r.transport),
            r.protocolVersion ? [el('dt', {}, 'Protocol'), el('dd', {}, r.protocolVersion)] : null,
            el('dt', {}, 'Sign-in'), el('dd', {}, r.requiresOAuth ? 'Requires OAuth' : 'Not required'))));
        if (r.transport) remoteTransport.value = r.transport;
        if (r.requiresOAuth) { auth.kind.value = 'oauth2'; auth.kind.dispatchEvent(new Event('change')); }
        names.set(r.serverName || new URL(endpoint.value).hostname);
      } catch (e2) {
        probeOut.replaceChildren();
        err.show(e2);
      }
    });
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    const body = {
      transport: transport.value, name: names.name.value.trim(), slug: names.slug.value.trim(), description: description.value.trim(),
    };
    if (transport.value === 'remote') {
      body.endpoint = endpoint.value.trim();
      body.remoteTransport = remoteTransport.value;
    } else {
      body.command = command.value.trim();
      body.args = args.value.trim() ? args.value.trim().split(/\s+/) : [];
    }
    const a = auth.value();
    if (a) body.auth = a;
    await busy(form, async () => {
      try {
        const r = await api('/api/mcp/servers', { method: 'POST', body });
        done(ctx, r.slug);
      } catch (e2) {
        err.show(e2);
      }
    });
  });
  if (endpoint.value) queueMicrotask(() => probeBtn.click());
  return form;
}

// ---- GraphQL ----

function graphql(ctx) {
  const endpoint = el('input', { type: 'url', name: 'endpoint', id: 'graphql-endpoint', placeholder: 'https://api.example.com/graphql', autocomplete: 'off', value: ctx.query.get('url') || '' });
  const names = nameFields();
  const description = el('input', { name: 'description', autocomplete: 'off' });
  const schema = el('textarea', { name: 'schema', rows: '6', class: 'mono', spellcheck: 'false', placeholder: 'type Query { … }' });
  const auth = authFields(false);
  const err = alertBox();
  const addBtn = el('button', { type: 'submit', class: 'primary', id: 'add' }, 'Introspect and add');
  endpoint.addEventListener('change', () => { if (isURL(endpoint.value)) names.set(new URL(endpoint.value).hostname.replace(/^api\./, '').split('.')[0]); });
  const form = el('form', { class: 'panel', id: 'add-form' },
    field('Endpoint', endpoint, 'The schema is read by introspection, without credentials.'),
    names.nodes,
    field('Description', description),
    auth.nodes,
    el('details', {}, el('summary', {}, 'The endpoint does not allow introspection'),
      field('Schema (SDL or an introspection result)', schema)),
    err,
    el('div', { class: 'actions' }, addBtn));
  if (endpoint.value) endpoint.dispatchEvent(new Event('change'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.show('');
    if (!isURL(endpoint.value)) { err.show('Give the endpoint’s URL; it must start with http:// or https://.'); return; }
    const body = { endpoint: endpoint.value.trim(), name: names.name.value.trim(), slug: names.slug.value.trim(), description: description.value.trim() };
    if (schema.value.trim()) body.schema = schema.value;
    const a = auth.value();
    if (a) body.auth = a;
    await busy(form, async () => {
      try {
        const r = await api('/api/graphql/integrations', { method: 'POST', body });
        done(ctx, r.slug, r.toolCount);
      } catch (e2) {
        err.show(e2);
      }
    });
  });
  return form;
}
