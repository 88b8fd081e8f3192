// api.js — how the UI talks to the server: the API key (kept in localStorage, sent as
// `Authorization: Bearer` on every request but /health), and turning any failed response into one
// readable message. Errors follow OpenAI's shape {"error": {"message", "type", "param", "code"}};
// a body that is not that shape is still shown, shortened, never thrown away.

const kApiKeyStorage = 'tessera.apiKey';
const kMaxErrorBodyChars = 600;

export function loadApiKey() {
  try {
    return localStorage.getItem(kApiKeyStorage) || '';
  } catch {
    return '';  // storage can be disabled (private windows, file policies)
  }
}

export function saveApiKey(key) {
  try {
    if (key) localStorage.setItem(kApiKeyStorage, key);
    else localStorage.removeItem(kApiKeyStorage);
  } catch {
    // Not persisted; the key still works for this page.
  }
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = loadApiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

// An Error whose message is already fit to show, with the parts of the server's error kept.
export class ApiError extends Error {
  constructor(message, { status = 0, type = '', param = null, code = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
  }
}

// Formats an OpenAI-style error object (the value of "error"); null when `error` is not one.
export function describeOpenAiError(error, status = 0) {
  if (!error || typeof error !== 'object' || typeof error.message !== 'string') return null;
  const parts = [];
  if (status) parts.push(String(status));
  if (error.type) parts.push(String(error.type));
  if (error.code !== null && error.code !== undefined && error.code !== '') parts.push(`code ${error.code}`);
  if (error.param) parts.push(`param: ${error.param}`);
  const head = parts.length ? `${parts.join(' · ')} — ` : '';
  return new ApiError(`${head}${error.message}`, {
    status,
    type: error.type || '',
    param: error.param ?? null,
    code: error.code ?? null,
  });
}

// The ApiError for a response that is not ok (reads its body once).
export async function errorFromResponse(response) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body could not be read; the status alone must do.
  }
  try {
    const parsed = describeOpenAiError(JSON.parse(text).error, response.status);
    if (parsed) {
      if (response.status === 429) {
        const retry = response.headers.get('Retry-After');
        if (retry) parsed.message += ` (retry after ${retry} s)`;
      }
      return parsed;
    }
  } catch {
    // Not JSON: fall through and show the text itself.
  }
  const body = text.length > kMaxErrorBodyChars ? `${text.slice(0, kMaxErrorBodyChars)}…` : text;
  const status = `${response.status} ${response.statusText}`.trim();
  return new ApiError(body ? `${status} — ${body}` : status, { status: response.status });
}

// GET a JSON document with the API key; throws ApiError on any failure.
export async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(`cannot reach the server (${e.message})`);
  }
  if (!response.ok) throw await errorFromResponse(response);
  try {
    return await response.json();
  } catch {
    throw new ApiError(`${path}: the server's answer is not JSON`, { status: response.status });
  }
}

// The ids of the models the server offers (GET /v1/models).
export async function listModels() {
  const body = await getJson('/v1/models');
  if (!body || !Array.isArray(body.data)) throw new ApiError('/v1/models: expected {"data": [...]}');
  return body.data.map((m) => (m && typeof m.id === 'string' ? m.id : null)).filter(Boolean);
}
