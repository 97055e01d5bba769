// Small helpers shared by every page. Every string that comes from the
// server (and so, often, from an upstream API) becomes a text node: nothing
// here ever assigns HTML.

/**
 * el builds an element. attrs: `class`, `on<event>` handlers, boolean
 * attributes (true sets, false/null/undefined skips), `value`/`checked`
 * as properties, anything else as an attribute. Children may be nodes,
 * strings, numbers, arrays or null.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') node[k] = v;
    else if (k === 'style') throw new Error('inline styles are not allowed by the CSP; use a class');
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false || c === '') continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(visible(String(c))));
  }
}

/**
 * visible shows control characters (an ANSI escape in a tool name, say) as
 * their Unicode control pictures instead of passing them to the page.
 */
export function visible(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (ch) => String.fromCharCode(ch === '\u007f' ? 0x2421 : 0x2400 + ch.charCodeAt(0)));
}

/** An error the API answered with; message is its `error` sentence. */
export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** api calls the JSON API. body, when given, is sent as JSON. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, credentials: 'same-origin', signal, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('The gateway could not be reached. Check that it is running and try again.', 0, null);
  }
  if (res.status === 401) {
    throw new ApiError('You are not signed in any more. Reload the page to sign in again.', 401, null);
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = (data && data.error) || `The gateway answered ${res.status} ${res.statusText}.`;
    throw new ApiError(sentence(msg), res.status, data);
  }
  return data;
}

/** sentence makes an error message read as one: capitalised, with a full stop. */
export function sentence(s) {
  s = String(s || '').trim();
  if (!s) return 'Something went wrong.';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?)]$/.test(s) ? s : s + '.';
}

/**
 * busy runs fn while target (a control, or a form or row holding some)
 * shows progress: aria-busy and disabled controls, restored afterwards.
 */
export async function busy(target, fn) {
  const buttons = target.matches('button, select, input') ? [target] : [...target.querySelectorAll('button, select, input[type=submit]')];
  const was = buttons.map((b) => b.disabled);
  target.setAttribute('aria-busy', 'true');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    return await fn();
  } finally {
    target.removeAttribute('aria-busy');
    buttons.forEach((b, i) => { b.disabled = was[i]; });
  }
}

/** alertBox is a place for a form's error sentence, empty until used. */
export function alertBox() {
  const box = el('p', { class: 'alert', role: 'alert', hidden: true });
  box.show = (err) => {
    box.textContent = err ? (err instanceof Error ? err.message : String(err)) : '';
    box.hidden = !err;
  };
  return box;
}

/** errorPanel replaces a page's content when it cannot load. */
export function errorPanel(err, retry) {
  return el('div', { class: 'panel error-panel', role: 'alert' },
    el('p', {}, err instanceof Error ? err.message : String(err)),
    retry ? el('button', { type: 'button', onclick: retry }, 'Try again') : null);
}

/** loading is the placeholder shown while a region waits for the network. */
export function loading(label = 'Loading…') {
  return el('p', { class: 'loading', 'aria-busy': 'true' }, el('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
}

let toastTimer;
/** toast announces a short success message. */
export function toast(message) {
  const t = document.getElementById('toast');
  if (!t) return;
  t.textContent = message;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 3500);
}

/** copy puts text on the clipboard and says so on the button. */
export async function copy(text, button) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select the text to copy it';
  }
  setTimeout(() => { button.textContent = label; }, 2000);
}

/** confirmDialog asks a yes/no question in a modal dialog. */
export function confirmDialog(title, message, confirmLabel = 'Delete') {
  return new Promise((resolve) => {
    const dlg = el('dialog', { class: 'dialog', 'aria-labelledby': 'dlg-title' },
      el('form', { method: 'dialog' },
        el('h2', { id: 'dlg-title' }, title),
        el('p', {}, message),
        el('div', { class: 'actions' },
          el('button', { value: 'cancel', type: 'submit' }, 'Cancel'),
          el('button', { value: 'ok', type: 'submit', class: 'danger' }, confirmLabel))));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** when formats ms since the epoch for people. */
export function when(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** relative says "in 3 min" / "2 min ago". */
export function relative(ms) {
  const diff = ms - Date.now();
  const min = Math.round(Math.abs(diff) / 60000);
  const unit = min < 1 ? 'less than a minute' : min === 1 ? '1 minute' : `${min} minutes`;
  return diff >= 0 ? `in ${unit}` : `${unit} ago`;
}

/** pretty renders a JSON value with two-space indentation. */
export function pretty(v) {
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

/** field wraps a control with its label and an optional hint. */
export function field(label, control, hint) {
  const id = control.id || (control.id = uid('f'));
  const hintEl = hint ? el('span', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return el('div', { class: 'field' }, el('label', { for: id }, label), control, hintEl);
}

let uidN = 0;
/** uid returns an id unique in this page. */
export function uid(prefix = 'id') {
  uidN += 1;
  return `${prefix}-${uidN}`;
}

/** select builds a <select> from [value, label] pairs. */
export function select(options, value, attrs = {}) {
  return el('select', attrs, options.map(([v, l]) => el('option', { value: v, selected: v === value }, l)));
}

/** isURL says whether s is an absolute http(s) URL. */
export function isURL(s) {
  try {
    const u = new URL(s.trim());
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.host;
  } catch {
    return false;
  }
}

/** Human names of policy actions, as the upstream console shows them. */
export const ACTIONS = [
  ['approve', 'Always run'],
  ['require_approval', 'Require approval'],
  ['block', 'Block'],
];
export const actionLabel = (a) => (ACTIONS.find(([v]) => v === a) || [a, a])[1];

export const ownerLabel = (o) => (o === 'user' ? 'Personal' : o === 'org' ? 'Organization' : o || '');

export const KINDS = { openapi: 'OpenAPI', mcp: 'MCP server', graphql: 'GraphQL', executor: 'Built-in' };
export const kindLabel = (k) => KINDS[k] || k;

/** identifier says whether s can follow a dot in JavaScript. */
const identifier = (s) => /^[A-Za-z_$][\w$]*$/.test(s);

/** jsPath turns a tool address into a JavaScript expression. */
export function jsPath(address) {
  const segs = address.replace(/^tools\./, '').split('.');
  return 'tools' + segs.map((s) => (identifier(s) ? '.' + s : `[${JSON.stringify(s)}]`)).join('');
}

/** initials are the one or two letters of a name's avatar. */
export function initials(name) {
  const parts = String(name).replace(/@.*/, '').split(/[\s._-]+/).filter(Boolean);
  return ((parts[0] || '?')[0] + (parts[1] ? parts[1][0] : '')).toUpperCase();
}

/** headline is an approval message without where the call goes and its arguments (the pages show both apart). */
export function headline(message, address) {
  return message ? message.split(/\n\n(?:Sends: |Arguments:)/)[0] : `Approve ${address}?`;
}
