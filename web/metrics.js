// metrics.js — reads the server's Prometheus text exposition (GET /metrics) for the dashboard.
// Owns: the table of metric names the UI depends on (change names here and nowhere else), a
// parser of the text format, and the arithmetic on top of it (counter rates, histogram buckets
// and quantiles). Pure functions: no DOM, no fetch, so the browser test can call them directly.
// The parser never throws on bad input: a line it cannot read is counted in `errors` and skipped.

// Every metric the UI reads. Counters are listed by the name of their sample (with `_total`);
// histograms by their base name (the parser exposes `<base>_bucket`, `_sum`, `_count`).
export const METRIC_NAMES = Object.freeze({
  running: 'tessera:requests_running',
  waiting: 'tessera:requests_waiting',
  kvCacheUsage: 'tessera:kv_cache_usage_ratio',
  promptTokens: 'tessera:prompt_tokens_total',
  generationTokens: 'tessera:generation_tokens_total',
  preemptions: 'tessera:num_preemptions_total',
  prefixCacheQueries: 'tessera:prefix_cache_queries_total',
  prefixCacheHits: 'tessera:prefix_cache_hits_total',
  timeToFirstToken: 'tessera:time_to_first_token_seconds',
  interTokenLatency: 'tessera:inter_token_latency_seconds',
  e2eLatency: 'tessera:e2e_request_latency_seconds',
});

// Larger inputs are refused rather than parsed: a dashboard has no use for megabytes of metrics.
const kMaxTextLength = 4 << 20;
const kMaxLabels = 64;

// parsePrometheusText(text) -> { samples: Map<name, [{labels, value}]>, types: Map<name, type>, errors }
// Follows the text format 0.0.4: `# HELP` / `# TYPE` lines, other comments, and samples
// `name{label="value",...} value [timestamp]`, with \\ \" \n escapes in label values and
// NaN / +Inf / -Inf values.
export function parsePrometheusText(text) {
  const result = { samples: new Map(), types: new Map(), errors: 0 };
  if (typeof text !== 'string' || text.length > kMaxTextLength) {
    result.errors = 1;
    return result;
  }
  for (const rawLine of text.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (m) result.types.set(m[1], m[2]);
      continue;  // HELP and free comments carry nothing the dashboard shows
    }
    const sample = parseSampleLine(line);
    if (!sample) {
      result.errors += 1;
      continue;
    }
    let list = result.samples.get(sample.name);
    if (!list) {
      list = [];
      result.samples.set(sample.name, list);
    }
    list.push({ labels: sample.labels, value: sample.value });
  }
  return result;
}

const kNameStart = /[a-zA-Z_:]/;
const kNameChar = /[a-zA-Z0-9_:]/;

// One sample line, or null when it is malformed.
function parseSampleLine(line) {
  let i = 0;
  const n = line.length;
  const skipSpaces = () => {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i += 1;
  };
  skipSpaces();
  if (i >= n || !kNameStart.test(line[i])) return null;
  const nameStart = i;
  while (i < n && kNameChar.test(line[i])) i += 1;
  const name = line.slice(nameStart, i);
  const labels = {};
  skipSpaces();
  if (line[i] === '{') {
    i += 1;
    let count = 0;
    for (;;) {
      skipSpaces();
      if (i >= n) return null;
      if (line[i] === '}') {
        i += 1;
        break;
      }
      if (!kNameStart.test(line[i])) return null;
      const keyStart = i;
      while (i < n && kNameChar.test(line[i])) i += 1;
      const key = line.slice(keyStart, i);
      skipSpaces();
      if (line[i] !== '=') return null;
      i += 1;
      skipSpaces();
      if (line[i] !== '"') return null;
      i += 1;
      let value = '';
      for (;;) {
        if (i >= n) return null;  // unterminated label value
        const c = line[i];
        if (c === '"') {
          i += 1;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= n) return null;
          const e = line[i + 1];
          value += e === 'n' ? '\n' : e;  // \\ and \" stand for themselves
          i += 2;
          continue;
        }
        value += c;
        i += 1;
      }
      if (++count > kMaxLabels) return null;
      labels[key] = value;
      skipSpaces();
      if (line[i] === ',') i += 1;
      else if (line[i] !== '}') return null;
    }
  }
  skipSpaces();
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') return null;
  const value = parseValue(rest[0]);
  if (value === null) return null;
  return { name, labels, value };
}

function parseValue(token) {
  if (token === 'NaN') return NaN;
  if (token === '+Inf' || token === 'Inf') return Infinity;
  if (token === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(token)) return null;
  return Number(token);
}

// The sum of every series of `name` (a gauge or counter split by labels adds up), or null when
// the server exports no such metric.
export function metricValue(parsed, name) {
  const list = parsed.samples.get(name);
  if (!list || list.length === 0) return null;
  let total = 0;
  for (const s of list) total += s.value;
  return total;
}

// A histogram's cumulative buckets, summed over any labels other than `le` and sorted by bound:
// { bounds: [0.01, ..., Infinity], cumulative: [...], sum, count }, or null when absent.
export function histogram(parsed, baseName) {
  const buckets = parsed.samples.get(`${baseName}_bucket`);
  if (!buckets || buckets.length === 0) return null;
  const byBound = new Map();
  for (const s of buckets) {
    if (!('le' in s.labels)) continue;
    const bound = parseValue(s.labels.le);
    if (bound === null || Number.isNaN(bound)) continue;
    byBound.set(bound, (byBound.get(bound) || 0) + s.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  if (bounds.length === 0) return null;
  const cumulative = bounds.map((b) => byBound.get(b));
  const count = metricValue(parsed, `${baseName}_count`);
  const sum = metricValue(parsed, `${baseName}_sum`);
  return {
    bounds,
    cumulative,
    sum: sum === null ? NaN : sum,
    count: count === null ? cumulative[cumulative.length - 1] : count,
  };
}

// Per-bucket counts from cumulative ones (a counter reset can make a difference negative: clamp).
export function bucketCounts(hist) {
  return hist.cumulative.map((c, i) => Math.max(0, c - (i === 0 ? 0 : hist.cumulative[i - 1])));
}

// The q-quantile (0..1) by linear interpolation inside the bucket that holds it, as Prometheus's
// histogram_quantile does; the lower edge of the first bucket is 0. When the quantile falls in the
// +Inf bucket the answer is the largest finite bound. NaN when there are no observations.
export function histogramQuantile(hist, q) {
  if (!hist || hist.bounds.length === 0) return NaN;
  const total = hist.cumulative[hist.cumulative.length - 1];
  if (!(total > 0) || !(q >= 0 && q <= 1)) return NaN;
  const rank = q * total;
  let i = hist.cumulative.findIndex((c) => c >= rank);
  if (i < 0) i = hist.cumulative.length - 1;
  const upper = hist.bounds[i];
  if (upper === Infinity) {
    return hist.bounds.length > 1 ? hist.bounds[hist.bounds.length - 2] : NaN;
  }
  const lower = i === 0 ? 0 : hist.bounds[i - 1];
  const below = i === 0 ? 0 : hist.cumulative[i - 1];
  const inBucket = hist.cumulative[i] - below;
  if (inBucket <= 0) return upper;
  return lower + ((upper - lower) * (rank - below)) / inBucket;
}

// Rate of a counter between two readings taken `seconds` apart; null when either is missing or
// the counter went backwards (the server restarted), so the caller shows a gap rather than a spike.
export function counterRate(previous, current, seconds) {
  if (previous === null || current === null || !(seconds > 0)) return null;
  if (current < previous) return null;
  return (current - previous) / seconds;
}
