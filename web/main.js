// main.js — starts the page: the API key field, the model list (GET /v1/models), the server status
// badge (GET /health, which needs no key), the chat playground and the dashboard. Changing the key
// reloads the model list, so a server started with --api-key works as soon as the key is typed.

import { listModels, loadApiKey, saveApiKey } from './api.js';
import { ChatPlayground } from './chat.js';
import { Dashboard } from './dashboard.js';

const kHealthPollMs = 3000;
const $ = (id) => document.getElementById(id);
let modelsNeedKey = false;  // the last GET /v1/models said 401: wait for a new key, do not retry

async function refreshModels() {
  const select = $('model-select');
  const previous = select.value;
  let ids;
  try {
    ids = await listModels();
    modelsNeedKey = false;
  } catch (e) {
    select.replaceChildren(new Option('(no models)', ''));
    select.title = e.message;
    modelsNeedKey = e.status === 401;
    const status = $('server-status');
    if (modelsNeedKey) {
      status.textContent = 'API key needed';
      status.className = 'badge bad';
    }
    return;
  }
  select.title = '';
  select.replaceChildren(...ids.map((id) => new Option(id, id)));
  if (ids.length === 0) select.replaceChildren(new Option('(no models)', ''));
  if (ids.includes(previous)) select.value = previous;
}

async function pollHealth() {
  const status = $('server-status');
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    if (response.ok) {
      if (modelsNeedKey) return;  // refreshModels' "API key needed" stays until the key changes
      status.textContent = 'ready';
      status.className = 'badge good';
      // The first time the server is ready (or it came back), fetch what it serves.
      if ($('model-select').value === '') await refreshModels();
    } else if (response.status === 503) {
      status.textContent = 'loading';
      status.className = 'badge warn';
    } else {
      status.textContent = `health ${response.status}`;
      status.className = 'badge bad';
    }
  } catch {
    status.textContent = 'offline';
    status.className = 'badge bad';
  } finally {
    window.setTimeout(pollHealth, kHealthPollMs);
  }
}

function init() {
  const keyInput = $('api-key');
  keyInput.value = loadApiKey();
  // Enter in the key field submits its form: apply the key instead of reloading the page.
  keyInput.form.addEventListener('submit', (event) => {
    event.preventDefault();
    keyInput.dispatchEvent(new Event('change'));
  });
  keyInput.addEventListener('change', () => {
    saveApiKey(keyInput.value.trim());
    refreshModels();
  });
  new ChatPlayground({ getModel: () => $('model-select').value });
  new Dashboard().start();
  pollHealth();
}

init();
