// The console shell: who is signed in and how to connect an agent.
// Every string from the server is rendered with textContent, never as HTML.

const main = document.getElementById('main');
const who = document.getElementById('who');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, ...options });
  if (res.status === 401) {
    location.assign('/cdn-cgi/access/login');
    throw new Error('Not signed in.');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `The server answered ${res.status}.`);
  return body;
}

async function start() {
  try {
    const me = await api('/api/account/me');
    who.textContent = `${me.user.name || me.user.email || me.user.id} · ${me.organization.name}`;
    const url = `${location.origin}/mcp`;
    const command = `npx add-mcp ${url} --transport http --name executor`;
    main.replaceChildren(
      el('h1', {}, 'Connect an agent'),
      el('div', { class: 'card' },
        el('p', {}, 'MCP endpoint: ', el('code', {}, url)),
        el('pre', { id: 'add-mcp' }, command),
        el('button', { onclick: (e) => copy(command, e.target) }, 'Copy command')),
    );
  } catch (err) {
    main.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select the text and copy it';
  }
}

start();
