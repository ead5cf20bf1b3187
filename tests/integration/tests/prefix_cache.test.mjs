// Automatic prefix caching through the official openai client: usage.prompt_tokens_details
// .cached_tokens (chat, completions, streamed usage), /metrics, and the same replies as a second
// server started with --no-prefix-cache.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { client, API_KEY, MODEL, templateTokens, tokenize, metrics } from './common.mjs';

const BLOCK = 16;  // hearth serve's KV block size
const floorBlock = (n) => Math.floor(n / BLOCK) * BLOCK;
const commonPrefix = (a, b) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) ++i;
  return i;
};

// A second server over the same model with the cache off: the reference replies. It inherits
// HEARTH_API_KEY, so it takes the same key.
function startUncached() {
  const proc = spawn(process.env.HEARTH_BIN, ['serve', process.env.HEARTH_MODEL, '--port', '0',
    '--threads', '2', '--ctx', '512', '--no-prefix-cache'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const ready = new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[^:]+:(\d+) .*prefix cache off/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`uncached server exited (${code}): ${log}`)));
  });
  return { proc, ready };
}
const uncached = startUncached();
after(() => uncached.proc.kill('SIGKILL'));
let plainClient;
async function plain() {
  if (!plainClient) {
    const port = await uncached.ready;
    plainClient = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY, maxRetries: 0 });
  }
  return plainClient;
}

const system = 'You are the prefix cache test. ' +
  'Answer every question about llamas, alpacas and vicunas with care. '.repeat(12);
const conv = (question) => [
  { role: 'system', content: system },
  { role: 'user', content: question },
];

test('prefix cache: a shared system prompt is reused, cached_tokens says how much', async () => {
  const a = conv('Where do llamas live?');
  const b = conv('What do alpacas eat?');
  const ra = await client.chat.completions.create({ model: MODEL, messages: a, max_tokens: 4, temperature: 0 });
  const ta = await templateTokens(a);
  assert.equal(ra.usage.prompt_tokens, ta.length);
  const ca = ra.usage.prompt_tokens_details.cached_tokens;
  assert.ok(ca % BLOCK === 0 && ca < ta.length, `first request cached ${ca}`);

  const rb = await client.chat.completions.create({ model: MODEL, messages: b, max_tokens: 4, temperature: 0 });
  const tb = await templateTokens(b);
  assert.ok(commonPrefix(ta, tb) > 100, 'the conversations share the system prompt');
  assert.equal(rb.usage.prompt_tokens_details.cached_tokens, floorBlock(commonPrefix(ta, tb)));

  // The same conversation again, streamed: all of it but the last (partial) block's tokens.
  const stream = await client.chat.completions.create({
    model: MODEL, messages: b, max_tokens: 4, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let usage;
  let text = '';
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(usage.prompt_tokens, tb.length);
  assert.equal(usage.prompt_tokens_details.cached_tokens, floorBlock(tb.length - 1));
  assert.equal(text, rb.choices[0].message.content);
});

test('prefix cache: n choices count their shared prompt once', async () => {
  const m = conv('How tall is a vicuna?');
  await client.chat.completions.create({ model: MODEL, messages: m, max_tokens: 2, temperature: 0 });
  const r = await client.chat.completions.create({ model: MODEL, messages: m, max_tokens: 2, n: 3, temperature: 1, seed: 5 });
  assert.equal(r.choices.length, 3);
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, floorBlock((await templateTokens(m)).length - 1));
});

test('prefix cache: completions report cached tokens too', async () => {
  const prompt = 'Once upon a time, a herd of llamas crossed the high plateau. '.repeat(6);
  const first = await client.completions.create({ model: MODEL, prompt, max_tokens: 3, temperature: 0 });
  const P = (await tokenize(prompt)).length;
  assert.equal(first.usage.prompt_tokens, P);
  const again = await client.completions.create({ model: MODEL, prompt, max_tokens: 3, temperature: 0 });
  assert.equal(again.usage.prompt_tokens_details.cached_tokens, floorBlock(P - 1));
  assert.equal(again.choices[0].text, first.choices[0].text);
  // Two prompts in one request: each counted once.
  const both = await client.completions.create({ model: MODEL, prompt: [prompt, prompt], max_tokens: 3, temperature: 0 });
  assert.equal(both.usage.prompt_tokens_details.cached_tokens, 2 * floorBlock(P - 1));
});

test('prefix cache: replies equal those of a server without the cache (greedy and seeded)', async () => {
  const other = await plain();
  for (const question of ['Where do llamas live?', 'What do alpacas eat?', 'Tell a story.']) {
    for (const sampling of [{ temperature: 0 }, { temperature: 1, top_p: 0.9, seed: 1234 }]) {
      const params = { model: MODEL, messages: conv(question), max_tokens: 24, ...sampling };
      const [x, y] = await Promise.all([
        client.chat.completions.create(params), other.chat.completions.create(params)]);
      assert.equal(x.choices[0].message.content, y.choices[0].message.content, `${question} ${JSON.stringify(sampling)}`);
      assert.ok(x.usage.prompt_tokens_details.cached_tokens > 0);
      assert.equal(y.usage.prompt_tokens_details.cached_tokens, 0);
    }
  }
});

test('prefix cache: /metrics counts hits, misses and evictions', async () => {
  const { text, get } = await metrics();
  assert.match(text, /^# TYPE hearth_prefix_cache_hits_total counter$/m);
  assert.ok(get('hearth_prefix_cache_hits_total') > 0);
  assert.ok(get('hearth_prefix_cache_misses_total') > 0);
  assert.ok(get('hearth_prefix_cache_evictions_total') >= 0);
  assert.ok(get('hearth_kv_blocks_cached') > 0);
  const port = await uncached.ready;
  const off = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(off, /^hearth_prefix_cache_hits_total 0$/m);
  assert.match(off, /^hearth_kv_blocks_cached 0$/m);
});
