// sse.js — reads a server-sent-events stream from fetch() (EventSource cannot POST or send an
// Authorization header). Owns the line/event framing of the SSE format: lines end in \n, \r\n or
// \r, even when the ending is split across network chunks; `data:` lines of one event are joined
// by \n; a blank line ends the event; comment lines (`:`) and other fields are ignored.
// Bytes are decoded as UTF-8 with a streaming decoder, so a character split across chunks survives.

// Bounds one event's accumulated data: a stream that never sends a blank line cannot grow memory
// without limit.
const kMaxEventBytes = 8 << 20;

export class SseParser {
  constructor() {
    this.buffer = '';
    this.data = [];
    this.dataLength = 0;
    this.sawCarriageReturn = false;
  }

  // Feeds decoded text; returns the data strings of the events it completed, in order.
  push(text) {
    const events = [];
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i += 1) {
      const c = this.buffer[i];
      if (c === '\n' && this.sawCarriageReturn && i === start) {
        // The \n of a \r\n whose \r ended the previous line.
        this.sawCarriageReturn = false;
        start = i + 1;
        continue;
      }
      this.sawCarriageReturn = false;
      if (c === '\n' || c === '\r') {
        this.line(this.buffer.slice(start, i), events);
        this.sawCarriageReturn = c === '\r';
        start = i + 1;
      }
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > kMaxEventBytes) throw new Error('event stream line longer than 8 MiB');
    return events;
  }

  // The stream ended: an event not closed by a blank line is dropped, as the SSE spec says.
  finish() {
    this.buffer = '';
    this.data = [];
    this.dataLength = 0;
  }

  line(line, events) {
    if (line === '') {
      if (this.data.length > 0) events.push(this.data.join('\n'));
      this.data = [];
      this.dataLength = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.dataLength += value.length;
    if (this.dataLength > kMaxEventBytes) throw new Error('event stream event larger than 8 MiB');
    this.data.push(value);
  }
}

// Yields the data of each event of a fetch Response body until the stream ends. Aborting the
// fetch's signal makes the pending read() reject with an AbortError, which reaches the caller. A
// caller that stops early (break) cancels the body, so the connection is released at once.
export async function* readSseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SseParser();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const data of parser.push(decoder.decode(value, { stream: true }))) yield data;
    }
    finished = true;
    for (const data of parser.push(decoder.decode())) yield data;
    parser.finish();
  } finally {
    if (!finished) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
