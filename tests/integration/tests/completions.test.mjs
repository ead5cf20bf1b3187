// /v1/completions and /v1/models through the official openai client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, MODEL, tokenize } from './common.mjs';

test('models lists the served model and its --alias names; retrieve works', async () => {
  const list = await client.models.list();
  const ids = [];
  for await (const m of list) ids.push(m.id);
  assert.deepEqual(ids, [MODEL, 'claude-test', 'gpt-test']);  // run.mjs serves with two aliases
  const m = await client.models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
  assert.equal((await client.models.retrieve('gpt-test')).id, 'gpt-test');
  const r = await client.chat.completions.create({
    model: 'gpt-test', messages: [{ role: 'user', content: 'x' }], max_tokens: 1,
  });
  assert.equal(r.object, 'chat.completion');
});

test('completion of a text prompt: usage matches hearth tokenize', async () => {
  const prompt = 'The quick brown fox';
  const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 5, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.usage.prompt_tokens, (await tokenize(prompt)).length);
  const c = r.choices[0];
  assert.equal(typeof c.text, 'string');
  if (c.finish_reason === 'length') assert.equal(r.usage.completion_tokens, 5);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('token-array prompt, echo and logprobs in the completions format', async () => {
  const ids = await tokenize('Once upon a time');
  const plain = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 4, temperature: 0 });
  assert.equal(plain.usage.prompt_tokens, ids.length);
  const r = await client.completions.create({
    model: MODEL, prompt: 'Once upon a time', max_tokens: 4, temperature: 0, echo: true, logprobs: 2,
  });
  const c = r.choices[0];
  assert.ok(c.text.startsWith('Once upon a time'));
  assert.equal(c.text, 'Once upon a time' + plain.choices[0].text);  // same greedy continuation
  const lp = c.logprobs;
  assert.equal(lp.tokens.length, lp.token_logprobs.length);
  assert.equal(lp.tokens.length, lp.top_logprobs.length);
  assert.equal(lp.tokens.length, lp.text_offset.length);
  // Echoed prompt tokens first (unscored), then one scored entry per generated token.
  const generated = lp.token_logprobs.filter((x) => x !== null);
  if (c.finish_reason === 'length') assert.equal(generated.length, r.usage.completion_tokens);
  for (let i = 1; i < lp.text_offset.length; ++i) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
  for (const top of lp.top_logprobs.filter((t) => t !== null)) assert.equal(Object.keys(top).length <= 2, true);
});

test('streaming completion equals the non-streaming one; default max_tokens is 16', async () => {
  const params = { model: MODEL, prompt: 'Hello', temperature: 0 };
  const whole = await client.completions.create(params);
  if (whole.choices[0].finish_reason === 'length') assert.equal(whole.usage.completion_tokens, 16);
  const s = await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage;
  for await (const chunk of s) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.text ?? '';
  }
  assert.equal(text, whole.choices[0].text);
  assert.deepEqual(usage, whole.usage);
});

test('a batch of prompts with n=2 gives prompt-major choice indexes', async () => {
  const r = await client.completions.create({
    model: MODEL, prompt: ['A', 'B b'], n: 2, max_tokens: 2, temperature: 0,
  });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(r.choices[0].text, r.choices[1].text);  // greedy: the same per prompt
  assert.equal(r.usage.prompt_tokens, (await tokenize('A')).length + (await tokenize('B b')).length);
});
