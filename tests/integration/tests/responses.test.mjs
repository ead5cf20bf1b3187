// /v1/responses (OpenAI's Responses API, stateless) through the official openai client's
// responses.create and responses.stream. The model has random weights: these tests check the
// protocol, token accounting and determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { BASE, client, MODEL, post, templateTokens } from './common.mjs';

const instructions = 'You are terse.';
const asChat = [{ role: 'system', content: instructions }, { role: 'user', content: 'Say hello.' }];

test('responses.create: string input, instructions, usage match hearth template', async () => {
  const r = await client.responses.create({
    model: MODEL, instructions, input: 'Say hello.', max_output_tokens: 6, temperature: 0, store: false,
  });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.model, MODEL);
  assert.ok(['completed', 'incomplete'].includes(r.status));
  assert.equal(r.store, false);
  assert.equal(r.instructions, instructions);
  assert.equal(r.usage.input_tokens, (await templateTokens(asChat)).length);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  if (r.status === 'incomplete') {
    assert.equal(r.incomplete_details.reason, 'max_output_tokens');
    assert.equal(r.usage.output_tokens, 6);
  }
  const msg = r.output.find((o) => o.type === 'message');
  const text = msg ? msg.content.map((c) => c.text).join('') : '';
  assert.equal(r.output_text, text);  // the client's own convenience field
});

test('item-list input (message items, developer role, text parts) and an --alias name', async () => {
  const r = await client.responses.create({
    model: 'gpt-test', max_output_tokens: 1,
    input: [
      { role: 'developer', content: 'You are terse.' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say' }, { type: 'input_text', text: 'hello.' }] },
    ],
  });
  assert.equal(r.usage.input_tokens, (await templateTokens([
    { role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say\nhello.' },
  ])).length);
});

test('responses.stream: events, and the same text as non-streaming (greedy)', async () => {
  const params = { model: MODEL, instructions, input: 'Say hello.', max_output_tokens: 8, temperature: 0 };
  const whole = await client.responses.create(params);
  const stream = client.responses.stream(params);
  const types = [];
  let deltas = '';
  stream.on('event', (e) => types.push(e.type));
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(types[0], 'response.created');
  assert.ok(['response.completed', 'response.incomplete'].includes(types.at(-1)));
  const seq = [];
  assert.equal(deltas, whole.output_text);
  assert.equal(final.output_text, whole.output_text);
  assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
  assert.equal(final.status, whole.status);

  // Raw: sequence numbers count up from 0.
  const raw = await client.responses.create({ ...params, stream: true });
  for await (const e of raw) seq.push(e.sequence_number);
  assert.deepEqual(seq, seq.map((_, i) => i));
});

test('stop (an extension) ends the text before the stop, streamed or not', async () => {
  const params = { model: MODEL, input: 'Say hello.', max_output_tokens: 16, temperature: 0 };
  const full = (await client.responses.create(params)).output_text;
  const chars = [...full];
  assert.ok(chars.length >= 8, `greedy text too short: ${JSON.stringify(full)}`);
  const stop = chars.slice(4, 7).join('');
  const expected = full.slice(0, full.indexOf(stop));
  const r = await client.responses.create({ ...params, stop: [stop, 'never-occurs-here'] });
  assert.equal(r.output_text, expected);
  assert.equal(r.status, 'completed');
  assert.ok(r.usage.output_tokens < 16);

  const stream = client.responses.stream({ ...params, stop: [stop] });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(deltas, expected);
  assert.equal(final.output_text, expected);
});

const tools = [{
  type: 'function', name: 'get_weather', description: 'Current weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}, { type: 'function', name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: {} } }];
const chatTools = tools.map((t) => ({
  type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters },
}));

test('tool round trip: function_call -> function_call_output -> answer', async () => {
  const question = { role: 'user', content: 'What is the weather in Paris?' };
  const r = await client.responses.create({
    model: MODEL, input: [question], tools, max_output_tokens: 64, temperature: 1,
    tool_choice: { type: 'function', name: 'get_weather' },
  });
  const calls = r.output.filter((o) => o.type === 'function_call');
  assert.equal(calls.length, 1);
  const call = calls[0];
  assert.equal(call.name, 'get_weather');
  assert.match(call.call_id, /^call_/);
  const args = JSON.parse(call.arguments);
  assert.equal(typeof args, 'object');
  assert.equal(r.usage.input_tokens, (await templateTokens([question], chatTools)).length);

  const r2 = await client.responses.create({
    model: MODEL, tools, max_output_tokens: 4, temperature: 0,
    input: [question, call, { type: 'function_call_output', call_id: call.call_id, output: '{"temperature_c": 21}' }],
  });
  assert.ok(['completed', 'incomplete'].includes(r2.status));
  const asTemplate = [question,
    { role: 'assistant', content: '', tool_calls: [{ id: call.call_id, type: 'function', function: { name: call.name, arguments: args } }] },
    { role: 'tool', tool_call_id: call.call_id, content: '{"temperature_c": 21}' }];
  assert.equal(r2.usage.input_tokens, (await templateTokens(asTemplate, chatTools)).length);
});

test('tool_choice required, streamed: function-call argument events assemble', async () => {
  const stream = client.responses.stream({
    model: MODEL, input: 'Weather?', tools, tool_choice: 'required', max_output_tokens: 64, temperature: 1,
  });
  let argDeltas = '';
  let done;
  stream.on('response.function_call_arguments.delta', (e) => { argDeltas += e.delta; });
  stream.on('response.function_call_arguments.done', (e) => { done = e; });
  const final = await stream.finalResponse();
  const call = final.output.find((o) => o.type === 'function_call');
  assert.ok(['get_weather', 'get_time'].includes(call.name));
  assert.equal(argDeltas, call.arguments);
  assert.equal(done.arguments, call.arguments);
  assert.equal(typeof JSON.parse(call.arguments), 'object');
});

test('errors: previous_response_id, bad fields, unknown model, wrong key', async () => {
  const bad = async (params, status, param, code, c = client) => {
    await assert.rejects(c.responses.create(params), (e) => {
      assert.equal(e.status, status, JSON.stringify(e.error));
      if (param !== undefined) assert.equal(e.param, param);
      if (code !== undefined) assert.equal(e.code, code);
      return true;
    });
  };
  await bad({ model: MODEL, input: 'hi', previous_response_id: 'resp_abc' }, 400,
    'previous_response_id', 'previous_response_not_found');
  await bad({ model: MODEL }, 400, 'input', 'missing_required_parameter');
  await bad({ model: MODEL, input: 42 }, 400, 'input', 'invalid_type');
  await bad({ model: MODEL, input: 'hi', max_output_tokens: 0 }, 400, 'max_output_tokens', 'invalid_value');
  await bad({ model: MODEL, input: [{ type: 'item_reference', id: 'x' }] }, 400, 'input[0].type');
  await bad({ model: MODEL, input: 'hi', tools: [{ type: 'web_search' }] }, 400, 'tools[0].type');
  await bad({ model: MODEL, input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '[1' }] }, 400,
    'input[0].arguments');
  await bad({ model: 'no-such-model', input: 'hi' }, 404, 'model', 'model_not_found');
  const wrongKey = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await bad({ model: MODEL, input: 'hi' }, 401, undefined, 'invalid_api_key', wrongKey);
  const raw = await post('/v1/responses', '{"model":', { raw: true });
  assert.equal(raw.status, 400);
  assert.equal(raw.json.error.type, 'invalid_request_error');
});

// The prefix cache's share of the prompt, as chat completions report it (prompt_tokens_details):
// the same long request twice reuses every full KV block but the last token's.
test('usage.input_tokens_details.cached_tokens counts the prefix cache, created and streamed', async () => {
  const req = {
    model: MODEL, max_output_tokens: 2, temperature: 0,
    instructions: 'You are the Responses cache test. ' + 'Llamas hum when they are curious. '.repeat(10),
    input: 'Why do llamas hum?',
  };
  const first = await client.responses.create(req);
  const n = first.usage.input_tokens;
  assert.ok(n > 64, `a prompt of several blocks (${n} tokens)`);
  const again = await client.responses.create(req);
  assert.equal(again.usage.input_tokens, n);
  assert.equal(again.usage.input_tokens_details.cached_tokens, Math.floor((n - 1) / 16) * 16);
  const stream = client.responses.stream(req);
  let done;
  // max_output_tokens ends it: response.incomplete, else response.completed.
  for await (const ev of stream) {
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') done = ev.response;
  }
  assert.ok(done, 'the stream ended with the whole response');
  assert.equal(done.usage.input_tokens_details.cached_tokens, Math.floor((n - 1) / 16) * 16);
});
