// Shared setup for the integration suites: an openai client pointed at the running server, and
// the hearth CLI as the independent reference for token counts.
import OpenAI from 'openai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BASE = process.env.HEARTH_URL;
export const API_KEY = process.env.HEARTH_API_KEY;
export const MODEL = 'devB';
// The CLI runs asynchronously: a synchronous child blocks the event loop for seconds, and the
// HTTP client's idle timers with it, so it would send on a connection the server had closed.
const run = promisify(execFile);

export const client = new OpenAI({
  baseURL: `${BASE}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 60000,
});

// Raw HTTP, for what the client library would hide (status codes, error bodies, framing).
export async function post(path, body, { key = API_KEY, raw = false } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${BASE}${path}`, {
    method: 'POST', headers, body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

const tmp = mkdtempSync(join(tmpdir(), 'hearth-it-'));
let counter = 0;

// `hearth template`: the prompt tokens a conversation becomes.
export async function templateTokens(messages, tools) {
  const m = join(tmp, `m${counter++}.json`);
  writeFileSync(m, JSON.stringify(messages));
  const args = ['template', process.env.HEARTH_MODEL, '--messages', m];
  if (tools) {
    const t = join(tmp, `t${counter++}.json`);
    writeFileSync(t, JSON.stringify(tools));
    args.push('--tools', t);
  }
  return JSON.parse((await run(process.env.HEARTH_BIN, args)).stdout).tokens;
}

// `hearth tokenize`: the ids of a text (with BOS, as /v1/completions adds it, unless noBos;
// special-token text as plain text unless special).
export async function tokenize(text, { noBos = false, special = false } = {}) {
  const args = ['tokenize', process.env.HEARTH_MODEL, text];
  if (noBos) args.push('--no-bos');
  if (special) args.push('--special');
  return JSON.parse((await run(process.env.HEARTH_BIN, args)).stdout);
}

export async function metrics() {
  const res = await fetch(`${BASE}/metrics`);
  const text = await res.text();
  const get = (name) => {
    const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : undefined;
  };
  return { text, get };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
