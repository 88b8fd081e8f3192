// dashboard.js — the live engine view: polls GET /metrics once a second, shows the gauges and
// totals, turns counter deltas into tokens/s, and draws the throughput history and the latency
// histograms on <canvas>. Invariants: one poll in flight at a time (the next is scheduled after
// the previous settles), a missing metric shows "–" rather than a guess, and a failed poll keeps
// the last good numbers on screen with the reason beside them.

import { authHeaders, errorFromResponse } from './api.js';
import {
  METRIC_NAMES,
  bucketCounts,
  counterRate,
  histogram,
  histogramQuantile,
  metricValue,
  parsePrometheusText,
} from './metrics.js';

const kPollMs = 1000;
const kHistoryPoints = 120;  // two minutes of throughput at one poll a second

const $ = (id) => document.getElementById(id);

export function formatCount(value) {
  if (value === null || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

// Seconds as the unit a person reads best: µs, ms or s.
export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(seconds < 0.01 ? 1 : 0)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

function formatBound(seconds) {
  return seconds === Infinity ? '+∞' : formatSeconds(seconds).replace(' ', '');
}

// Sizes a canvas's backing store to its CSS box times the pixel ratio, so lines stay sharp.
function prepareCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth));
  const height = Math.max(1, Math.round(canvas.clientHeight));
  if (canvas.width !== width * ratio || canvas.height !== height * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
  }
  const ctx = canvas.getContext('2d');
  // The context keeps its state between frames: reset what the drawing functions change.
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.textAlign = 'left';
  ctx.globalAlpha = 1;
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

// The buckets worth drawing: from one below the first non-empty bucket to one above the last, and
// at least kMinShownBuckets wide, so a server with 17 buckets from 1 ms to 100 s still gives the
// observations wide bars. Returns [first, last] indices, inclusive.
const kMinShownBuckets = 8;
function shownBucketRange(counts) {
  const n = counts.length;
  let first = counts.findIndex((c) => c > 0);
  let last = n - 1 - [...counts].reverse().findIndex((c) => c > 0);
  first = Math.max(0, first - 1);
  last = Math.min(n - 1, last + 1);
  while (last - first + 1 < Math.min(n, kMinShownBuckets)) {
    if (first > 0) first -= 1;
    if (last - first + 1 < Math.min(n, kMinShownBuckets) && last < n - 1) last += 1;
  }
  return [first, last];
}

// Bars of per-bucket counts, each labelled below by its upper bound (as many labels as fit without
// overlapping) and above by its count when there is room.
function drawHistogram(canvas, hist) {
  const { ctx, width, height } = prepareCanvas(canvas);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = themeColor('--muted');
  if (!hist) {
    ctx.fillText('not exported by this server', 8, height / 2);
    return;
  }
  const allCounts = bucketCounts(hist);
  const max = Math.max(...allCounts);
  if (!(max > 0)) {
    ctx.fillText('no observations yet', 8, height / 2);
    return;
  }
  const [first, last] = shownBucketRange(allCounts);
  const counts = allCounts.slice(first, last + 1);
  const bounds = hist.bounds.slice(first, last + 1);
  const labelSpace = 14;
  const countSpace = 12;
  const plotHeight = height - labelSpace - countSpace;
  const slot = width / counts.length;
  const barWidth = Math.max(1, slot - 3);
  counts.forEach((c, i) => {
    const h = c > 0 ? Math.max(1, (c / max) * plotHeight) : 0;
    const top = countSpace + plotHeight - h;
    ctx.fillStyle = themeColor('--accent');
    ctx.fillRect(i * slot + 1.5, top, barWidth, h);
    if (c > 0 && slot >= 22) {
      ctx.fillStyle = themeColor('--muted');
      ctx.textAlign = 'center';
      ctx.fillText(formatCount(c), (i + 0.5) * slot, top - 2);
    }
  });
  // A bucket counts observations up to its bound, so each bound labels the right edge of its bar,
  // like a tick on an axis; the last one always shows.
  ctx.fillStyle = themeColor('--muted');
  ctx.textAlign = 'center';
  const labels = bounds.map((b, i) => {
    const text = formatBound(b);
    const w = ctx.measureText(text).width;
    const x = Math.min(width - w / 2, Math.max(w / 2, (i + 1) * slot));
    return { text, x, left: x - w / 2, right: x + w / 2 };
  });
  const lastLabel = labels[labels.length - 1];
  let rightEdge = -Infinity;
  labels.forEach((label, i) => {
    const isLast = i === labels.length - 1;
    if (!isLast && (label.left < rightEdge + 6 || label.right > lastLabel.left - 6)) return;
    ctx.fillText(label.text, label.x, height - 3);
    rightEdge = label.right;
  });
}

// A filled line of the last kHistoryPoints rates (generation) and a thin line (prompt).
function drawThroughput(canvas, history) {
  const { ctx, width, height } = prepareCanvas(canvas);
  ctx.font = '10px system-ui, sans-serif';
  const values = history.flatMap((p) => [p.generation ?? 0, p.prompt ?? 0]);
  const max = Math.max(1, ...values);
  const x = (i) => width - ((history.length - 1 - i) / (kHistoryPoints - 1)) * width;
  const y = (v) => 4 + (height - 18) * (1 - v / max);
  const line = (key, color, fill) => {
    ctx.beginPath();
    let started = false;
    history.forEach((p, i) => {
      if (p[key] === null) return;
      if (!started) ctx.moveTo(x(i), y(p[key]));
      else ctx.lineTo(x(i), y(p[key]));
      started = true;
    });
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    if (fill && started) {
      ctx.lineTo(x(history.length - 1), y(0));
      ctx.lineTo(x(history.findIndex((p) => p[key] !== null)), y(0));
      ctx.closePath();
      ctx.globalAlpha = 0.15;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
  };
  line('prompt', themeColor('--muted'), false);
  line('generation', themeColor('--accent'), true);
  ctx.fillStyle = themeColor('--muted');
  ctx.fillText(`max ${formatCount(max)} tok/s`, 4, height - 3);
  ctx.textAlign = 'right';
  ctx.fillStyle = themeColor('--accent');
  ctx.fillText('generated', width - 60, height - 3);
  ctx.fillStyle = themeColor('--muted');
  ctx.fillText('prompt', width - 4, height - 3);
}

export class Dashboard {
  constructor() {
    this.previous = null;  // { at (ms), prompt, generation } of the last good poll
    this.history = [];
    this.latest = null;  // the last parsed exposition (kept for redraws on resize)
    this.timer = 0;
    window.addEventListener('resize', () => this.redraw());
  }

  start() {
    const tick = async () => {
      await this.poll();
      this.timer = window.setTimeout(tick, kPollMs);
    };
    tick();
  }

  async poll() {
    const status = $('metrics-status');
    let text;
    try {
      const response = await fetch('/metrics', { headers: authHeaders(), cache: 'no-store' });
      if (!response.ok) throw await errorFromResponse(response);
      text = await response.text();
    } catch (e) {
      status.textContent = `metrics unavailable: ${e.message}`;
      status.classList.add('error-text');
      return;
    }
    const parsed = parsePrometheusText(text);
    status.textContent = parsed.errors ? `${parsed.errors} unreadable metric lines` : 'live';
    status.classList.toggle('error-text', parsed.errors > 0);
    this.update(parsed, performance.now());
  }

  update(parsed, now) {
    const value = (key) => metricValue(parsed, METRIC_NAMES[key]);
    const prompt = value('promptTokens');
    const generation = value('generationTokens');
    let promptRate = null;
    let generationRate = null;
    if (this.previous) {
      const seconds = (now - this.previous.at) / 1000;
      promptRate = counterRate(this.previous.prompt, prompt, seconds);
      generationRate = counterRate(this.previous.generation, generation, seconds);
    }
    this.previous = { at: now, prompt, generation };
    this.history.push({ prompt: promptRate, generation: generationRate });
    if (this.history.length > kHistoryPoints) this.history.shift();
    this.latest = parsed;

    $('stat-running').textContent = formatCount(value('running'));
    $('stat-waiting').textContent = formatCount(value('waiting'));
    $('stat-preemptions').textContent = formatCount(value('preemptions'));
    $('stat-prompt-rate').textContent = formatCount(promptRate);
    $('stat-generation-rate').textContent = formatCount(generationRate);
    $('stat-prompt-total').textContent = formatCount(prompt);
    $('stat-generation-total').textContent = formatCount(generation);

    const queries = value('prefixCacheQueries');
    const hits = value('prefixCacheHits');
    $('stat-prefix-hits').textContent =
      queries > 0 && hits !== null ? `${((100 * hits) / queries).toFixed(0)}%` : formatCount(hits);

    const kv = value('kvCacheUsage');
    const kvKnown = kv !== null && Number.isFinite(kv);
    const kvPercent = kvKnown ? Math.min(100, Math.max(0, kv * 100)) : 0;
    $('stat-kv').textContent = kvKnown ? `${kvPercent.toFixed(1)}%` : '–';
    const fill = $('kv-meter-fill');
    fill.style.width = `${kvPercent}%`;
    fill.classList.toggle('high', kvPercent >= 90);
    this.redraw();
  }

  redraw() {
    drawThroughput($('plot-throughput'), this.history);
    const plots = [
      ['timeToFirstToken', 'plot-ttft', 'q-ttft'],
      ['interTokenLatency', 'plot-itl', 'q-itl'],
      ['e2eLatency', 'plot-e2e', 'q-e2e'],
    ];
    for (const [key, canvasId, quantileId] of plots) {
      const hist = this.latest ? histogram(this.latest, METRIC_NAMES[key]) : null;
      drawHistogram($(canvasId), hist);
      const label = $(quantileId);
      if (hist && hist.count > 0) {
        const q = (p) => formatSeconds(histogramQuantile(hist, p)).replace(' ', '');
        label.textContent = `n=${formatCount(hist.count)} · p50 ${q(0.5)} · p90 ${q(0.9)} · p99 ${q(0.99)}`;
      } else {
        label.textContent = '';
      }
    }
  }
}
