// Every error a client can cause comes back as an OpenAI error object with the right status, and
// never as a 500.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { BASE, MODEL, client, metrics, post, sleep } from './common.mjs';

const msgs = [{ role: 'user', content: 'hi' }];
const CHAT = '/v1/chat/completions';

function assertError(r, status, { param, code } = {}) {
  assert.equal(r.status, status, r.text);
  const e = r.json?.error;
  assert.ok(e, `no error object: ${r.text}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(typeof e.type, 'string');
  assert.ok('param' in e && 'code' in e);
  if (param !== undefined) assert.equal(e.param, param);
  if (code !== undefined) assert.equal(e.code, code);
}

test('400: malformed JSON and non-object bodies', async () => {
  assertError(await post(CHAT, '{"model": ', { raw: true }), 400, { code: 'invalid_json' });
  assertError(await post(CHAT, '[1, 2]', { raw: true }), 400);
  assertError(await post(CHAT, '', { raw: true }), 400);
});

test('400: wrong types and out-of-range values name the parameter', async () => {
  const cases = [
    [{ temperature: 'hot' }, 'temperature'],
    [{ temperature: 2.5 }, 'temperature'],
    [{ top_p: 1.5 }, 'top_p'],
    [{ n: 0 }, 'n'],
    [{ n: 1.5 }, 'n'],
    [{ max_tokens: 0 }, 'max_tokens'],
    [{ max_tokens: 'ten' }, 'max_tokens'],
    [{ presence_penalty: 3 }, 'presence_penalty'],
    [{ frequency_penalty: -3 }, 'frequency_penalty'],
    [{ logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ logit_bias: { 999999: 1 } }, 'logit_bias'],
    [{ logit_bias: { 5: 200 } }, 'logit_bias'],
    [{ logprobs: true, top_logprobs: 30 }, 'top_logprobs'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ stop: 5 }, 'stop'],
    [{ stream: 'yes' }, 'stream'],
    [{ seed: 'x' }, 'seed'],
    [{ response_format: { type: 'xml' } }, 'response_format.type'],
    [{ tool_choice: 'required' }, 'tool_choice'],
    [{ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
    [{ top_k: -1 }, 'top_k'],
    [{ min_p: 2 }, 'min_p'],
  ];
  for (const [extra, param] of cases) {
    const r = await post(CHAT, { model: MODEL, messages: msgs, max_tokens: 1, ...extra });
    assertError(r, 400, { param });
  }
});

test('400: bad messages', async () => {
  assertError(await post(CHAT, { model: MODEL }), 400, { param: 'messages' });
  assertError(await post(CHAT, { model: MODEL, messages: [] }), 400, { param: 'messages' });
  assertError(await post(CHAT, { model: MODEL, messages: 'hi' }), 400, { param: 'messages' });
  assertError(await post(CHAT, { model: MODEL, messages: [{ role: 'wizard', content: 'x' }] }), 400);
  assertError(await post(CHAT, { model: MODEL, messages: [{ role: 'user' }] }), 400);
  assertError(await post(CHAT, {
    model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
  }), 400);
  assertError(await post(CHAT, { messages: msgs }), 400, { param: 'model' });
});

test('400 context_length_exceeded: prompt too long, or prompt + max_tokens too long', async () => {
  const long = 'hello '.repeat(700);
  const r = await post(CHAT, { model: MODEL, messages: [{ role: 'user', content: long }] });
  assertError(r, 400, { code: 'context_length_exceeded' });
  const r2 = await post(CHAT, { model: MODEL, messages: msgs, max_tokens: 100000 });
  assertError(r2, 400, { code: 'context_length_exceeded' });
  const r3 = await post('/v1/completions', { model: MODEL, prompt: long });
  assertError(r3, 400, { code: 'context_length_exceeded' });
  // The client library surfaces it as a BadRequestError.
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === 'context_length_exceeded');
});

test('400: completions-specific fields', async () => {
  assertError(await post('/v1/completions', { model: MODEL, prompt: [1, -5] }), 400, { param: 'prompt' });
  assertError(await post('/v1/completions', { model: MODEL, prompt: 5 }), 400, { param: 'prompt' });
  assertError(await post('/v1/completions', { model: MODEL, prompt: 'x', logprobs: 9 }), 400, { param: 'logprobs' });
  assertError(await post('/v1/completions', { model: MODEL }), 400, { param: 'prompt' });
});

test('401: missing or wrong API key', async () => {
  assertError(await post(CHAT, { model: MODEL, messages: msgs }, { key: null }), 401, { code: 'invalid_api_key' });
  assertError(await post(CHAT, { model: MODEL, messages: msgs }, { key: 'wrong' }), 401, { code: 'invalid_api_key' });
  const r = await fetch(`${BASE}/v1/models`);
  assert.equal(r.status, 401);
  const bad = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  // Health and metrics stay open for probes.
  assert.equal((await fetch(`${BASE}/health`)).status, 200);
  assert.equal((await fetch(`${BASE}/metrics`)).status, 200);
});

test('404: unknown route and unknown model', async () => {
  assertError(await post('/v1/nothing-here', { model: MODEL }), 404);
  const get = await fetch(`${BASE}/v2/models`);
  assert.equal(get.status, 404);
  assert.ok((await get.json()).error);
  assertError(await post(CHAT, { model: 'gpt-4o', messages: msgs }), 404, { code: 'model_not_found' });
  assertError(await post('/v1/completions', { model: 'nope', prompt: 'x' }), 404, { code: 'model_not_found' });
  await assert.rejects(client.models.retrieve('nope'), (e) => e instanceof OpenAI.NotFoundError);
});

test('413: body over --max-body', async () => {
  const r = await post(CHAT, { model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(400 * 1024) }] });
  assertError(r, 413);
});

test('429: more waiting sequences than --max-queue', async () => {
  const r = await post(CHAT, { model: MODEL, messages: msgs, n: 100, max_tokens: 1 });
  assertError(r, 429, { code: 'queue_full' });
  // The sequences it did queue are cancelled at the scheduler's next step; then all is well.
  let ok;
  for (let tries = 0; tries < 100; ++tries) {
    ok = await post(CHAT, { model: MODEL, messages: msgs, max_tokens: 1 });
    if (ok.status !== 429) break;
    await sleep(50);
  }
  assert.equal(ok.status, 200);
  for (let tries = 0; tries < 100 && (await metrics()).get('hearth_queue_depth') !== 0; ++tries)
    await sleep(50);
});

test('unknown fields are ignored; llama.cpp extras and user are accepted', async () => {
  const r = await post(CHAT, {
    model: MODEL, messages: msgs, max_tokens: 2, some_future_field: { a: 1 }, user: 'u-1',
    top_k: 5, min_p: 0.05, repeat_penalty: 1.1, parallel_tool_calls: false, metadata: null,
    max_completion_tokens: 2, presence_penalty: 0.5, frequency_penalty: 0.5, logit_bias: { 15: -5 },
  });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.usage.completion_tokens <= 2);
});
