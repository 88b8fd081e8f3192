// chat.js — the chat playground: a list of messages with roles, sampling settings, and streaming
// answers from POST /v1/chat/completions read as server-sent events. Invariants: model output is
// only ever put into the page as text (textContent), never as HTML; at most one generation runs at
// a time, and Stop aborts its fetch, which closes the connection so the server cancels the request;
// an answer cut short (stopped or failed) keeps the text that arrived and says why it ended; a
// message joins the transcript only once there is a request to send it in (a model, readable
// settings): otherwise its text stays in the composer and the error says why it was not sent.

import { authHeaders, describeOpenAiError, errorFromResponse, ApiError } from './api.js';
import { readSseEvents } from './sse.js';

const kSettingsStorage = 'tessera.settings';
// Inputs whose values are kept across reloads (by element id).
const kSettingIds = ['system-prompt', 'temperature', 'top-p', 'top-k', 'max-tokens', 'seed', 'stop-strings'];
const kCheckboxIds = ['ignore-eos'];

const $ = (id) => document.getElementById(id);

// Turns the settings pane into request fields; an empty input is left out (server default).
export function samplingFields() {
  const fields = {};
  const number = (id, name, parse) => {
    const raw = $(id).value.trim();
    if (raw === '') return;
    const value = parse(raw);
    // A number input reports '' for text it cannot read, so this only catches odd exponents.
    if (!Number.isFinite(value)) throw new ApiError(`${name}: expected a number, got "${raw}"`);
    fields[name] = value;
  };
  number('temperature', 'temperature', Number);
  number('top-p', 'top_p', Number);
  number('top-k', 'top_k', (s) => (/^-?\d+$/.test(s) ? Number(s) : NaN));
  number('max-tokens', 'max_tokens', (s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  number('seed', 'seed', (s) => (/^-?\d+$/.test(s) ? Number(s) : NaN));
  const stops = $('stop-strings')
    .value.split('\n')
    .map((s) => s.replace(/\r$/, ''))
    .filter((s) => s !== '')
    .map(unescapeStop);
  if (stops.length > 0) fields.stop = stops;
  // vLLM's extra: keep sampling past the end-of-sequence token (the demo model's random weights
  // emit it at random, which makes a long answer to watch or to stop hard to get otherwise).
  if ($('ignore-eos').checked) fields.ignore_eos = true;
  return fields;
}

// Lets a stop string hold a newline or tab, which a one-line-per-string textarea cannot.
function unescapeStop(s) {
  return s.replace(/\\(n|t|\\)/g, (_, c) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(kSettingsStorage) || '{}') || {};
  } catch {
    saved = {};
  }
  for (const id of kSettingIds) {
    if (typeof saved[id] === 'string') $(id).value = saved[id];
  }
  for (const id of kCheckboxIds) $(id).checked = saved[id] === true;
}

function saveSettings() {
  const values = {};
  for (const id of kSettingIds) values[id] = $(id).value;
  for (const id of kCheckboxIds) values[id] = $(id).checked;
  try {
    localStorage.setItem(kSettingsStorage, JSON.stringify(values));
  } catch {
    // Not persisted; the values still apply to this page.
  }
}

export class ChatPlayground {
  // modelForChat: async () => { model } or { problem, needsKey }; onNeedKey: points at the key field.
  constructor({ modelForChat, onNeedKey }) {
    this.modelForChat = modelForChat;
    this.onNeedKey = onNeedKey;
    this.messages = [];  // [{ role, content, element }]
    this.controller = null;  // AbortController of the running generation
    this.checking = false;  // a send is waiting for modelForChat: a second one is ignored
    this.errorReason = '';  // 'no-model' while the error is about the model, so it can go by itself
    this.list = $('messages');
    this.errorBox = $('chat-error');
    this.stats = $('generation-stats');

    loadSettings();
    for (const id of [...kSettingIds, ...kCheckboxIds]) $(id).addEventListener('input', saveSettings);
    $('reset-settings').addEventListener('click', () => {
      for (const id of kSettingIds) $(id).value = '';
      for (const id of kCheckboxIds) $(id).checked = false;
      saveSettings();
    });
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      this.send({ generate: true });
    });
    $('add-only').addEventListener('click', () => this.send({ generate: false }));
    $('stop').addEventListener('click', () => this.stop());
    $('clear-chat').addEventListener('click', () => this.clear());
    $('prompt').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (!this.controller) this.send({ generate: true });
      }
    });
  }

  showError(message, reason = '') {
    this.errorBox.textContent = message;
    this.errorBox.hidden = !message;
    this.errorReason = message ? reason : '';
  }

  // main.js calls this when the model list loaded: "no model, enter the key" is no longer true.
  modelsChanged() {
    if (this.errorReason === 'no-model') this.showError('');
  }

  // Adds the composer's text as a message and, when `generate`, streams the model's answer. The
  // model and the settings are checked before the message is added, so a send that cannot happen
  // leaves the transcript as it was and the text in the composer, to send again as it is.
  async send({ generate }) {
    if (this.controller || this.checking) return;
    this.showError('');
    const prompt = $('prompt');
    const nothingToSend = () => prompt.value.trim() === '' && (!generate || this.messages.length === 0);
    if (nothingToSend()) {
      this.showError('Type a message first.');
      return;
    }
    let body = null;
    if (generate) {
      let found;
      this.checking = true;
      try {
        found = await this.modelForChat();
      } finally {
        this.checking = false;
      }
      const kept = prompt.value.trim() !== '' ? ' Your message was not sent; it is still below.' : '';
      if (!found.model) {
        this.showError(`${found.problem}${kept}`, 'no-model');
        if (found.needsKey) this.onNeedKey();
        return;
      }
      let sampling;
      try {
        sampling = samplingFields();
      } catch (e) {
        this.showError(`${e.message}${kept}`);
        return;
      }
      body = { model: found.model, sampling };
    }
    // Read again: the text may have changed while the model was being checked.
    if (nothingToSend()) {
      this.showError('Type a message first.');
      return;
    }
    const text = prompt.value;
    if (text.trim() !== '') {
      this.addMessage($('compose-role').value, text);
      prompt.value = '';
    }
    if (body) this.generate(this.requestBody(body.model, body.sampling));
  }

  addMessage(role, content) {
    const item = document.createElement('li');
    item.className = `message role-${role}`;
    const head = document.createElement('div');
    head.className = 'message-head';
    const roleLabel = document.createElement('span');
    roleLabel.className = 'role';
    roleLabel.textContent = role;
    const note = document.createElement('span');
    note.className = 'message-note';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'icon';
    remove.title = 'Remove this message';
    remove.textContent = '×';
    head.append(roleLabel, note, remove);
    const body = document.createElement('div');
    body.className = 'message-body';
    body.textContent = content;
    item.append(head, body);
    this.list.append(item);
    const message = { role, content, element: item, body, note };
    remove.addEventListener('click', () => {
      if (this.controller && message === this.streaming) return;  // stop it first
      this.messages = this.messages.filter((m) => m !== message);
      item.remove();
    });
    this.messages.push(message);
    this.scrollToEnd(true);
    return message;
  }

  clear() {
    if (this.controller) this.stop();
    this.messages = [];
    this.list.replaceChildren();
    this.showError('');
    this.stats.textContent = '';
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  scrollToEnd(force) {
    const nearEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    if (force || nearEnd) this.list.scrollTop = this.list.scrollHeight;
  }

  setBusy(busy) {
    $('send').disabled = busy;
    $('add-only').disabled = busy;
    $('stop').disabled = !busy;
  }

  requestBody(model, sampling) {
    const messages = [];
    const system = $('system-prompt').value;
    if (system.trim() !== '') messages.push({ role: 'system', content: system });
    for (const m of this.messages) messages.push({ role: m.role, content: m.content });
    return {
      model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      ...sampling,
    };
  }

  async generate(body) {
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    this.stats.textContent = '';
    const answer = this.addMessage('assistant', '');
    this.streaming = answer;
    answer.element.classList.add('streaming');
    const started = performance.now();
    let firstTokenAt = 0;
    let finishReason = null;
    let usage = null;
    let outcome = 'incomplete';  // finished | stopped | failed | incomplete (stream ended early)
    try {
      const response = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) throw await errorFromResponse(response);
      for await (const data of readSseEvents(response)) {
        if (data === '[DONE]') {
          outcome = 'finished';
          break;
        }
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new ApiError(`the server sent an event that is not JSON: ${data.slice(0, 200)}`);
        }
        if (chunk.error) {
          throw describeOpenAiError(chunk.error) || new ApiError(JSON.stringify(chunk.error));
        }
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          if (choice.index !== undefined && choice.index !== 0) continue;
          const delta = choice.delta && typeof choice.delta.content === 'string' ? choice.delta.content : '';
          if (delta) {
            if (!firstTokenAt) firstTokenAt = performance.now();
            answer.content += delta;
            answer.body.textContent = answer.content;
            this.scrollToEnd(false);
          }
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') {
        outcome = 'stopped';
      } else {
        outcome = 'failed';
        this.showError(e instanceof ApiError ? e.message : `request failed: ${e.message}`);
        if (e.status === 401) this.onNeedKey();  // the key was changed or cleared since the list loaded
      }
    } finally {
      this.controller = null;
      this.streaming = null;
      this.setBusy(false);
    }
    answer.element.classList.remove('streaming');
    if (outcome === 'failed' && answer.content === '') {
      // Nothing arrived: keep the conversation as it was before the attempt.
      this.messages = this.messages.filter((m) => m !== answer);
      answer.element.remove();
      return;
    }
    const notes = {
      finished: finishReason ? `finish: ${finishReason}` : 'finished',
      stopped: 'stopped',
      failed: 'failed',
      incomplete: 'stream ended without [DONE]',
    };
    answer.note.textContent = notes[outcome];
    answer.element.dataset.outcome = outcome;
    this.stats.textContent = describeTiming(started, firstTokenAt, performance.now(), usage);
  }
}

function describeTiming(started, firstTokenAt, ended, usage) {
  const parts = [];
  if (firstTokenAt) parts.push(`first token ${Math.round(firstTokenAt - started)} ms`);
  if (usage && Number.isFinite(usage.prompt_tokens)) {
    parts.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`);
    const seconds = (ended - (firstTokenAt || started)) / 1000;
    if (usage.completion_tokens > 1 && seconds > 0) {
      parts.push(`${((usage.completion_tokens - 1) / seconds).toFixed(1)} tok/s`);
    }
  }
  parts.push(`total ${((ended - started) / 1000).toFixed(2)} s`);
  return parts.join(' · ');
}
