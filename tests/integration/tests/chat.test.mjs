// /v1/chat/completions through the official openai client. The model has random weights, so the
// text is gibberish by design: these tests check the protocol, token accounting and determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, MODEL, templateTokens } from './common.mjs';

const hello = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];

test('non-streaming chat: shape and usage match hearth template', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: hello, max_tokens: 6, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, 'assistant');
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  assert.equal(r.usage.prompt_tokens, (await templateTokens(hello)).length);
  if (c.finish_reason === 'length') assert.equal(r.usage.completion_tokens, 6);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('text content parts are joined like a string', async () => {
  const parts = [{ role: 'user', content: [{ type: 'text', text: 'Say' }, { type: 'text', text: 'hello.' }] }];
  const r = await client.chat.completions.create({ model: MODEL, messages: parts, max_tokens: 1 });
  assert.equal(r.usage.prompt_tokens, (await templateTokens([{ role: 'user', content: 'Say\nhello.' }])).length);
});

test('streaming chat: chunks, [DONE], include_usage, same text as non-streaming', async () => {
  const params = { model: MODEL, messages: hello, max_tokens: 8, temperature: 0 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let first = true;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      usage = chunk.usage;
      assert.equal(chunk.choices.length, 0);
      continue;
    }
    assert.equal(chunk.usage, null);  // include_usage: null on every other chunk
    const c = chunk.choices[0];
    if (first) assert.equal(c.delta.role, 'assistant');
    first = false;
    text += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  // The repeat finds its prompt in the prefix cache: only cached_tokens may differ.
  const counts = (u) => ({ ...u, prompt_tokens_details: undefined });
  assert.deepEqual(counts(usage), counts(whole.usage));
});

test('n=2 returns two choices and counts both completions', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: hello, max_tokens: 5, n: 2, temperature: 1, seed: 7,
  });
  assert.equal(r.choices.length, 2);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  // Different seeds per choice: with 128k random tokens the texts differ.
  assert.notEqual(r.choices[0].message.content, r.choices[1].message.content);
  const expected = r.choices.every((c) => c.finish_reason === 'length') ? 10 : undefined;
  if (expected) assert.equal(r.usage.completion_tokens, expected);
  assert.equal(r.usage.prompt_tokens, (await templateTokens(hello)).length);
});

test('seed: same seed and request give the same output; another seed differs', async () => {
  const params = { model: MODEL, messages: hello, max_tokens: 8, temperature: 1, top_p: 0.95 };
  const a = await client.chat.completions.create({ ...params, seed: 1234 });
  const b = await client.chat.completions.create({ ...params, seed: 1234 });
  const c = await client.chat.completions.create({ ...params, seed: 4321 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  // Streaming with the same seed: same text.
  const s = await client.chat.completions.create({ ...params, seed: 1234, stream: true });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, a.choices[0].message.content);
});

test('no seed: sampling is random per request', async () => {
  const params = { model: MODEL, messages: hello, max_tokens: 8, temperature: 1 };
  const a = await client.chat.completions.create(params);
  const b = await client.chat.completions.create(params);
  assert.notEqual(a.choices[0].message.content, b.choices[0].message.content);
});

test('stop strings end the text before the stop, streamed or not', async () => {
  const params = { model: MODEL, messages: hello, max_tokens: 16, temperature: 0 };
  const full = (await client.chat.completions.create(params)).choices[0].message.content;
  // A stop string from the middle of the greedy text, and one that never occurs.
  const chars = [...full];
  assert.ok(chars.length >= 8, `greedy text too short: ${JSON.stringify(full)}`);
  const stop = chars.slice(4, 7).join('');
  const expected = full.slice(0, full.indexOf(stop));
  const r = await client.chat.completions.create({ ...params, stop: [stop, 'never-occurs-here'] });
  assert.equal(r.choices[0].message.content, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.completion_tokens < 16);

  const s = await client.chat.completions.create({ ...params, stop, stream: true });
  const deltas = [];
  let finish;
  for await (const chunk of s) {
    const c = chunk.choices[0];
    if (c?.delta?.content) deltas.push(c.delta.content);
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(deltas.join(''), expected);  // no part of the stop string was ever sent
  assert.equal(finish, 'stop');
});

test('logprobs and top_logprobs', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: hello, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const c = r.choices[0];
  const lp = c.logprobs.content;
  if (c.finish_reason === 'length') assert.equal(lp.length, r.usage.completion_tokens);
  let bytes = [];
  for (const e of lp) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    for (let k = 1; k < 3; ++k) assert.ok(e.top_logprobs[k - 1].logprob >= e.top_logprobs[k].logprob);
    // Greedy: the chosen token is the most likely one.
    assert.deepEqual(e.bytes, e.top_logprobs[0].bytes);
    assert.equal(e.logprob, e.top_logprobs[0].logprob);
    bytes = bytes.concat(e.bytes);
  }
  assert.equal(Buffer.from(bytes).toString('utf8'), c.message.content);
});

test('response_format json_object: the content parses as a JSON object', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Reply in JSON.' }], max_tokens: 24,
      temperature: 1, seed, response_format: { type: 'json_object' },
    });
    const text = r.choices[0].message.content;
    const value = JSON.parse(text);
    assert.equal(typeof value, 'object');
    assert.ok(!Array.isArray(value) && value !== null, text);
    assert.ok(r.usage.completion_tokens <= 24);
  }
  // Streamed, and with a budget so small that the constraint must close at once.
  const s = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'JSON' }], max_tokens: 3, temperature: 1,
    seed: 5, response_format: { type: 'json_object' }, stream: true,
  });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(typeof JSON.parse(text), 'object');
});

const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}, {
  type: 'function',
  function: { name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: {} } },
}];

test('tool call round trip: named tool_choice -> tool_calls -> tool result -> answer', async () => {
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const r = await client.chat.completions.create({
    model: MODEL, messages, tools, max_tokens: 64, temperature: 1, seed: 3,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.content, null);
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args, 'object');
  assert.equal(r.usage.prompt_tokens, (await templateTokens(messages, tools)).length);

  const followUp = [
    ...messages,
    { role: 'assistant', content: null, tool_calls: [call] },
    { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature_c: 21 }) },
  ];
  const r2 = await client.chat.completions.create({
    model: MODEL, messages: followUp, tools, max_tokens: 6, temperature: 0,
  });
  assert.ok(['stop', 'length', 'tool_calls'].includes(r2.choices[0].finish_reason));
  // The prompt is exactly what the template makes of the conversation (arguments as an object).
  const asTemplate = followUp.map((m) => (m.tool_calls ? {
    ...m, tool_calls: m.tool_calls.map((t) => ({ ...t, function: { ...t.function, arguments: JSON.parse(t.function.arguments) } })),
  } : m));
  assert.equal(r2.usage.prompt_tokens, (await templateTokens(asTemplate, tools)).length);
});

test('tool_choice required picks one of the tools; streamed tool_calls assemble', async () => {
  const messages = [{ role: 'user', content: 'Weather or time?' }];
  const r = await client.chat.completions.create({
    model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 64, temperature: 1, seed: 11,
  });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.ok(['get_weather', 'get_time'].includes(call.function.name));
  assert.equal(typeof JSON.parse(call.function.arguments), 'object');

  const s = await client.chat.completions.create({
    model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 64, temperature: 1,
    seed: 11, stream: true,
  });
  const calls = [];
  let finish;
  for await (const chunk of s) {
    const d = chunk.choices[0]?.delta;
    for (const t of d?.tool_calls ?? []) {
      calls[t.index] ??= { id: t.id, name: '', arguments: '' };
      calls[t.index].name += t.function?.name ?? '';
      calls[t.index].arguments += t.function?.arguments ?? '';
    }
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, call.function.name);  // same seed, same call
  assert.equal(calls[0].arguments, call.function.arguments);
});

test('tool_choice none keeps the tools out of the prompt', async () => {
  const messages = [{ role: 'user', content: 'Hi' }];
  const r = await client.chat.completions.create({
    model: MODEL, messages, tools, tool_choice: 'none', max_tokens: 2, temperature: 0,
  });
  assert.equal(r.usage.prompt_tokens, (await templateTokens(messages)).length);
  assert.equal(r.choices[0].message.tool_calls, undefined);
});
