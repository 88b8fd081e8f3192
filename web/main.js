// main.js — starts the page: the API key field, the model list (GET /v1/models), the server status
// badge (GET /health, which needs no key), the chat playground and the dashboard. Changing the key
// reloads the model list, so a server started with --api-key works as soon as the key is typed.
// It also answers the chat's "which model, or why none?" (modelForChat), because only this file
// knows whether the list is empty for want of a key, because the server is loading, or truly.

import { listModels, loadApiKey, saveApiKey } from './api.js';
import { ChatPlayground } from './chat.js';
import { Dashboard } from './dashboard.js';

const kHealthPollMs = 3000;
const $ = (id) => document.getElementById(id);

let serverState = 'connecting';  // from GET /health: connecting | loading | ready | offline | error
let modelsNeedKey = false;  // the last GET /v1/models said 401: wait for a new key, do not retry
let modelsError = '';  // why the last GET /v1/models failed otherwise ('' when it answered)
let refreshSeq = 0;  // numbers the listings, so an older answer never overwrites a newer key's
let refreshing = null;  // the latest listing while it runs: a send waits for it, not guesses
let healthCheck = null;  // the GET /health now running (the first one decides "connecting")
let chat = null;

function showServerStatus() {
  const status = $('server-status');
  const badges = {
    connecting: ['connecting…', 'badge'],
    loading: ['loading', 'badge warn'],
    ready: ['ready', 'badge good'],
    offline: ['offline', 'badge bad'],
  };
  // "API key needed" outranks ready: the server is up, but nothing works until the key is typed.
  const [text, className] =
    modelsNeedKey && serverState === 'ready'
      ? ['API key needed', 'badge bad']
      : badges[serverState] || [status.textContent, 'badge bad'];
  status.textContent = text;
  status.className = className;
}

// Marks the key field and puts the cursor in it; cleared once a key lists the models.
function askForKey() {
  const keyInput = $('api-key');
  keyInput.classList.add('needs-key');
  keyInput.setAttribute('aria-invalid', 'true');
  keyInput.placeholder = 'required';
  keyInput.focus();
}

function keyAccepted() {
  const keyInput = $('api-key');
  keyInput.classList.remove('needs-key');
  keyInput.removeAttribute('aria-invalid');
  keyInput.placeholder = 'none';
}

function refreshModels() {
  const run = loadModels(++refreshSeq).finally(() => {
    if (refreshing === run) refreshing = null;
  });
  refreshing = run;
  return run;
}

async function loadModels(seq) {
  const select = $('model-select');
  const previous = select.value;
  let ids = null;
  let error = null;
  try {
    ids = await listModels();
  } catch (e) {
    error = e;
  }
  if (seq !== refreshSeq) return;  // the key changed meanwhile: the newer listing decides
  if (error) {
    select.replaceChildren(new Option('(no models)', ''));
    select.title = error.message;
    modelsNeedKey = error.status === 401;
    modelsError = modelsNeedKey ? '' : error.message;
    // The server is evidently up if it answered 401, even before /health said so.
    if (modelsNeedKey && serverState === 'connecting') serverState = 'ready';
    showServerStatus();
    return;
  }
  modelsNeedKey = false;
  modelsError = '';
  keyAccepted();
  select.title = '';
  select.replaceChildren(...ids.map((id) => new Option(id, id)));
  if (ids.length === 0) select.replaceChildren(new Option('(no models)', ''));
  if (ids.includes(previous)) select.value = previous;
  showServerStatus();
  if (chat) chat.modelsChanged();
}

async function checkHealth() {
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    if (response.ok) {
      serverState = 'ready';
      // The first time the server is ready (or it came back), fetch what it serves; after a 401
      // wait for the key to change instead of asking again with the same one.
      if ($('model-select').value === '' && !modelsNeedKey) await refreshModels();
    } else if (response.status === 503) {
      serverState = 'loading';
    } else {
      serverState = 'error';
      $('server-status').textContent = `health ${response.status}`;
    }
  } catch {
    serverState = 'offline';
  }
  showServerStatus();
}

async function pollHealth() {
  healthCheck = checkHealth();
  await healthCheck;
  window.setTimeout(pollHealth, kHealthPollMs);
}

// The model for a chat request: { model }, or { problem, needsKey } saying why there is none. Waits
// for a listing or first health check still under way, so a message sent just after the key was
// typed (or as the page opens) is judged on the server's answer, not on the empty list before it.
async function modelForChat() {
  if (serverState === 'connecting' && healthCheck) await healthCheck;
  while (refreshing) await refreshing;
  const model = $('model-select').value;
  if (model) return { model };
  if (modelsNeedKey) {
    return {
      needsKey: true,
      problem: loadApiKey()
        ? 'The server refused this API key: enter the right one above.'
        : 'This server needs an API key: enter it above.',
    };
  }
  const problems = {
    connecting: 'Still connecting to the server: send again in a moment.',
    loading: 'The model is still loading: send again when the status says ready.',
    offline: 'The server cannot be reached (offline).',
  };
  if (problems[serverState]) return { problem: problems[serverState] };
  if (modelsError) return { problem: `No model: ${modelsError}` };
  return { problem: 'No model: the server listed none (GET /v1/models).' };
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
  chat = new ChatPlayground({ modelForChat, onNeedKey: askForKey });
  new Dashboard().start();
  pollHealth();
}

init();
