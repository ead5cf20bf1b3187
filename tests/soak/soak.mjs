// Server soak: `hearth serve` on loopback under concurrent streaming load with faults mixed in,
// for a bounded time. Node built-ins only (http, net), so every byte on the wire is ours to
// choose.
//
//   node soak.mjs --hearth BIN --model DIR [--duration 120] [--streams 64] [--warmup 0.25]
//                 [--max-rss-growth 5] [--max-resets 0] [--json]
//
// Each of --streams workers loops until the time is up, each round one of:
//   greedy stream (run to its end; text and finish reason must equal the same request run
//   alone before the load), disconnect at a random moment, cancel after some tokens, or a
//   hostile request: malformed JSON, 10,000-deep nesting, a 100 MB body, huge headers, a
//   slow-drip body, invalid UTF-8. A hostile request must get a 4xx OpenAI error object (or a
//   200 where the request is in fact valid), never a 5xx or a dropped connection.
// Pass: the server never crashes and exits 0 on SIGTERM; every completed greedy stream matches;
// /metrics shows every KV block free afterwards; resident memory after the load is within
// --max-rss-growth % of what it was at the end of the warm-up. Prints TTFT and inter-token
// latency percentiles.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const HEARTH = arg('--hearth');
const MODEL = arg('--model');
const DURATION_S = Number(arg('--duration', '120'));
const STREAMS = Number(arg('--streams', '64'));
const WARMUP = Number(arg('--warmup', '0.25'));
const MAX_RSS_GROWTH = Number(arg('--max-rss-growth', '5'));
// Hostile requests whose connection was reset before any answer arrived (an open problem, see
// README, Reliability): counted apart, and allowed up to this many.
const MAX_RESETS = Number(arg('--max-resets', '0'));
const JSON_OUT = process.argv.includes('--json');
if (!HEARTH || !MODEL) {
  console.error('usage: node soak.mjs --hearth BIN --model DIR [--duration S] [--streams N]');
  process.exit(2);
}

const SERVER_ARGS = [
  'serve', MODEL, '--alias', 'soak', '--host', '127.0.0.1', '--port', '0', '--threads', '2', '--ctx', '512',
  '--max-seqs', '16', '--max-queue', '64', '--queue-timeout', '60', '--http-threads',
  String(STREAMS + 32), '--max-body', '1', '--read-timeout', '10', '--shutdown-grace', '2',
];

const PROMPTS = [
  'Name three llamas.', 'What is the capital of France?', 'Count from one to ten.',
  'Write a haiku about rain.', 'héllo 日本語 🦙', 'Explain recursion briefly.',
  'List some prime numbers.', 'Say something kind.',
];
const MAX_TOKENS = [24, 16, 32, 20, 12, 28, 18, 22];

const log = (...a) => { if (!JSON_OUT) console.log(...a); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (n) => Math.floor(Math.random() * n);

function startServer() {
  const proc = spawn(HEARTH, SERVER_ARGS, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      stderr += d.toString();
      if (stderr.length > 1e6) stderr = stderr.slice(-5e5);
      const m = stderr.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`hearth serve exited early (${code})\n${stderr}`)));
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, port, exited, stderr: () => stderr };
}

function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}

let PORT = 0;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function chatBody(i, stream = true) {
  return JSON.stringify({
    model: 'soak', stream, temperature: 0, max_tokens: MAX_TOKENS[i],
    messages: [{ role: 'user', content: PROMPTS[i] }],
  });
}

// One streaming request. stopAfter: {ms} disconnects at that moment, {chunks} after that many
// content chunks; otherwise it reads to the end. Resolves with what was seen.
function stream(body, stopAfter = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const out = { status: 0, text: '', finish: null, ttft: null, gaps: [], error: null, done: false };
    let last = null, buf = '', chunks = 0, settled = false;
    const finish = (extra = {}) => {
      if (settled) return;
      settled = true;
      resolve({ ...out, ...extra });
    };
    const req = http.request({
      host: '127.0.0.1', port: PORT, path: '/v1/chat/completions', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      out.status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let at;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (!ev.startsWith('data: ')) continue;
          const data = ev.slice(6);
          if (data === '[DONE]') { out.done = true; continue; }
          let j;
          try { j = JSON.parse(data); } catch { out.error = `bad SSE JSON: ${data.slice(0, 80)}`; continue; }
          if (j.error) { out.error = j.error.code || j.error.message; continue; }
          const c = j.choices?.[0];
          if (c?.delta?.content) {
            const now = performance.now();
            if (out.ttft === null) out.ttft = now - t0; else out.gaps.push(now - last);
            last = now;
            out.text += c.delta.content;
            if (stopAfter.chunks && ++chunks >= stopAfter.chunks) { req.destroy(); finish({ cut: true }); }
          }
          if (c?.finish_reason) out.finish = c.finish_reason;
        }
      });
      res.on('end', () => finish());
      res.on('error', () => finish());
      res.on('aborted', () => finish({ aborted: true }));
    });
    req.on('error', (e) => finish({ neterr: e.code || String(e) }));
    if (stopAfter.ms !== undefined) setTimeout(() => { req.destroy(); finish({ cut: true }); }, stopAfter.ms);
    req.end(body);
  });
}

// Raw bytes over a socket, for requests an HTTP client refuses to send. Resolves with the status
// line's code (0: the server closed without answering) and the body.
function raw(send, { timeoutMs = 30000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(PORT, '127.0.0.1');
    let got = '', settled = false;
    const done = (why) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      const m = got.match(/^HTTP\/1\.[01] (\d{3})/);
      const body = got.slice(got.indexOf('\r\n\r\n') + 4);
      resolve({ status: m ? Number(m[1]) : 0, body, why, head: got.slice(0, got.indexOf('\r\n\r\n')) });
    };
    sock.setTimeout(timeoutMs, () => done('timeout'));
    sock.on('data', (d) => { got += d.toString('latin1'); sock.answered = true; if (got.length > 1e6) done('big'); });
    sock.on('end', () => done('end'));
    sock.on('close', () => done('close'));
    sock.on('error', (e) => done(e.code));
    sock.on('connect', () => send(sock).catch(() => {}));
  });
}

function requestHead(len, extra = '') {
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${len}\r\nConnection: close\r\n${extra}\r\n`;
}

const answered = (sock) => sock.answered === true;
const write = (sock, data) => new Promise((res) => { if (sock.write(data)) res(); else sock.once('drain', res); });

const HOSTILE = {
  async malformed_json() {
    const body = '{"model": "soak", "messages": [{"role": "user", "content": "x"}';
    return raw(async (s) => write(s, requestHead(body.length) + body));
  },
  async deep_nesting() {
    const body = '{"model":"soak","messages":' + '['.repeat(10000) + ']'.repeat(10000) + '}';
    return raw(async (s) => write(s, requestHead(body.length) + body));
  },
  async body_100mb() {
    const total = 100 * 1024 * 1024;
    return raw(async (s) => {
      await write(s, requestHead(total));
      const chunk = Buffer.alloc(1 << 20, 0x20);
      for (let sent = 0; sent < total && !s.destroyed && !answered(s); sent += chunk.length) await write(s, chunk);
    });
  },
  async chunked_100mb() {
    return raw(async (s) => {
      await write(s, 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
      const chunk = Buffer.concat([Buffer.from('100000\r\n'), Buffer.alloc(1 << 20, 0x20), Buffer.from('\r\n')]);
      for (let i = 0; i < 100 && !s.destroyed && !answered(s); i++) await write(s, chunk);
      if (!s.destroyed && !answered(s)) await write(s, '0\r\n\r\n');
    });
  },
  // Headers only (Content-Length: 0): no unread body can turn the server's close into a reset.
  async huge_headers() {
    const many = Array.from({ length: 400 }, (_, i) => `X-Filler-${i}: ${'a'.repeat(1000)}\r\n`).join('');
    return raw(async (s) => write(s, requestHead(0, many)));
  },
  async huge_header_line() {
    return raw(async (s) => write(s, requestHead(0, `X-Big: ${'b'.repeat(100000)}\r\n`)));
  },
  async slow_drip() {
    const body = JSON.stringify({ model: 'soak', max_tokens: 4, temperature: 0,
      messages: [{ role: 'user', content: 'drip' }] });
    return raw(async (s) => {
      await write(s, requestHead(body.length));
      for (let i = 0; i < body.length && !s.destroyed; i += 8) {
        await write(s, body.slice(i, i + 8));
        await sleep(100);
      }
    }, { timeoutMs: 60000 });
  },
  async invalid_utf8() {
    const head = Buffer.from('{"model":"soak","max_tokens":4,"temperature":0,"messages":[{"role":"user","content":"');
    const body = Buffer.concat([head, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}]}')]);
    return raw(async (s) => { await write(s, requestHead(body.length)); await write(s, body); });
  },
};
// What each hostile kind may get back: a 4xx OpenAI error object, or a 200 for a valid request.
// A server that refuses a body flood early and closes may have its answer destroyed by the TCP
// reset the client's unsent megabytes cause; a reset there still means "refused, not buffered".
const FLOODS = new Set(['body_100mb', 'chunked_100mb']);
function hostileOk(kind, r) {
  if (r.status === 0 && FLOODS.has(kind) && (r.why === 'EPIPE' || r.why === 'ECONNRESET')) return true;
  if (r.status === 200) return kind === 'slow_drip' || kind === 'invalid_utf8';
  if (r.status < 400 || r.status >= 500) return false;
  try { return typeof JSON.parse(r.body).error?.message === 'string'; } catch { return false; }
}

const stats = {
  greedy: 0, greedy_match: 0, greedy_mismatch: 0, greedy_incomplete: 0, rejected_429: 0,
  disconnects: 0, cancels: 0, hostile: {}, failures: [], resets: [],
};
const ttfts = [], gaps = [];
let baseline = [];

async function greedyRound() {
  const i = rand(PROMPTS.length);
  const r = await stream(chatBody(i));
  if (r.status === 429) { stats.rejected_429++; await sleep(200); return; }
  stats.greedy++;
  if (r.status !== 200 || !r.done || r.error) {
    stats.greedy_incomplete++;
    stats.failures.push(`greedy ${i}: status ${r.status} error ${r.error} ${r.neterr || ''}`);
    return;
  }
  if (r.text === baseline[i].text && r.finish === baseline[i].finish) stats.greedy_match++;
  else {
    stats.greedy_mismatch++;
    stats.failures.push(`greedy ${i}: ${JSON.stringify(r.text)} != ${JSON.stringify(baseline[i].text)}`);
  }
  if (r.ttft !== null) ttfts.push(r.ttft);
  gaps.push(...r.gaps);
}

async function worker(deadline) {
  while (performance.now() < deadline) {
    const roll = Math.random();
    if (roll < 0.6) await greedyRound();
    else if (roll < 0.72) { stats.disconnects++; await stream(chatBody(rand(PROMPTS.length)), { ms: rand(1500) }); }
    else if (roll < 0.84) { stats.cancels++; await stream(chatBody(rand(PROMPTS.length)), { chunks: 1 + rand(6) }); }
    else {
      const kinds = Object.keys(HOSTILE);
      // The 100 MB body is the costliest on a small machine: a tenth of the others' share.
      let kind = kinds[rand(kinds.length)];
      if ((kind === 'body_100mb' || kind === 'chunked_100mb') && Math.random() < 0.9) kind = 'malformed_json';
      const r = await HOSTILE[kind]();
      const h = (stats.hostile[kind] ??= { sent: 0, ok: 0, statuses: {} });
      h.sent++;
      h.statuses[r.status] = (h.statuses[r.status] || 0) + 1;
      if (hostileOk(kind, r)) h.ok++;
      else if (r.status === 0 && r.why === 'ECONNRESET') stats.resets.push(kind);
      else stats.failures.push(`hostile ${kind}: status ${r.status} (${r.why}) ${r.body.slice(0, 120)}`);
    }
  }
}

async function metrics() {
  const r = await fetch(`http://127.0.0.1:${PORT}/metrics`);
  const text = await r.text();
  const get = (name) => Number((text.match(new RegExp(`^${name} (\\S+)`, 'm')) || [])[1]);
  return { used: get('hearth_kv_blocks_used'), free: get('hearth_kv_blocks_free') };
}

const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(1));
};

let server = null;

async function main() {
  server = startServer();
  PORT = await server.port;
  for (let t = 0; ; t++) {
    try { if ((await fetch(`http://127.0.0.1:${PORT}/health`)).status === 200) break; } catch {}
    if (t > 600) throw new Error('server not healthy');
    await sleep(100);
  }
  // Each prompt alone: the reference every loaded run must reproduce.
  for (let i = 0; i < PROMPTS.length; i++) {
    const r = await stream(chatBody(i));
    if (r.status !== 200 || !r.done) throw new Error(`baseline ${i} failed: ${r.status} ${r.error}`);
    baseline.push({ text: r.text, finish: r.finish });
  }
  log(`soak: ${STREAMS} streams for ${DURATION_S} s against port ${PORT}`);
  const pid = server.proc.pid;
  const t0 = performance.now();
  const deadline = t0 + DURATION_S * 1000;
  let rssWarm = null, rssPeak = 0;
  const sampler = setInterval(() => {
    try {
      const rss = rssKiB(pid);
      rssPeak = Math.max(rssPeak, rss);
      if (rssWarm === null && performance.now() - t0 >= WARMUP * DURATION_S * 1000) rssWarm = rss;
    } catch {}
  }, 250);
  let crashed = null;
  server.exited.then((e) => { crashed = e; });
  await Promise.all(Array.from({ length: STREAMS }, () => worker(deadline)));
  clearInterval(sampler);
  if (crashed) throw new Error(`server died: ${JSON.stringify(crashed)}\n${server.stderr().slice(-4000)}`);

  // Everything the clients abandoned must come back to the free list.
  let m;
  for (let t = 0; t < 300; t++) {
    m = await metrics();
    if (m.used === 0) break;
    await sleep(100);
  }
  const rssEnd = rssKiB(pid);
  const growth = rssWarm ? (100 * (rssEnd - rssWarm)) / rssWarm : 0;
  server.proc.kill('SIGTERM');
  const exit = await server.exited;

  const result = {
    duration_s: DURATION_S, streams: STREAMS, ...stats,
    failures: stats.failures.slice(0, 20), failure_count: stats.failures.length,
    kv_blocks_used_after: m.used, kv_blocks_free_after: m.free,
    rss_mib: { warm: rssWarm && +(rssWarm / 1024).toFixed(1), end: +(rssEnd / 1024).toFixed(1),
      peak: +(rssPeak / 1024).toFixed(1), growth_pct: +growth.toFixed(2) },
    ttft_ms: { n: ttfts.length, p50: pct(ttfts, 50), p99: pct(ttfts, 99) },
    inter_token_ms: { n: gaps.length, p50: pct(gaps, 50), p99: pct(gaps, 99) },
    server_exit: exit,
  };
  const problems = [];
  if (exit.code !== 0) problems.push(`server exit ${JSON.stringify(exit)}`);
  if (stats.failures.length) problems.push(`${stats.failures.length} failed requests`);
  if (stats.resets.length > MAX_RESETS)
    problems.push(`${stats.resets.length} hostile requests reset without an answer (${stats.resets.join(', ')})`);
  if (stats.greedy_match === 0) problems.push('no greedy stream completed');
  if (m.used !== 0) problems.push(`${m.used} KV blocks still in use`);
  if (growth >= MAX_RSS_GROWTH) problems.push(`RSS grew ${growth.toFixed(2)}% after warm-up`);
  result.pass = problems.length === 0;
  result.problems = problems;
  if (JSON_OUT) console.log(JSON.stringify(result, null, 1));
  else {
    log(JSON.stringify(result, null, 1));
    log(result.pass ? 'soak: PASS' : `soak: FAIL: ${problems.join('; ')}`);
  }
  if (!result.pass && exit.code !== 0) console.error(server.stderr().slice(-4000));
  process.exit(result.pass ? 0 : 1);
}

main().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  server?.proc.kill('SIGKILL');  // never leave a server behind
  process.exit(1);
});
