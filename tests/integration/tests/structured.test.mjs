// Structured outputs through the official openai client: response_format json_schema and strict
// function tools on the random-weight model, whose unconstrained text is gibberish. Every reply
// is checked by ajv, an independent JSON Schema validator, on written and seeded generated
// schemas; every schema with an unsupported keyword gets a 400 that names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { client, MODEL, post, tokenize } from './common.mjs';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const messages = [{ role: 'user', content: 'Answer in JSON.' }];

const written = [
  { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } },
    required: ['name', 'age'], additionalProperties: false },
  { type: 'object', properties: { x: { type: 'number' }, y: { type: 'boolean' }, z: { type: 'null' } },
    required: ['y'], additionalProperties: false },
  { type: 'string', enum: ['red', 'green', 'blue'] },
  { enum: [1, 12, 'a', null, true, [1, 2], { k: 'v' }] },
  { const: 'fixed' },
  { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 4 },
  { type: 'string', minLength: 3, maxLength: 6 },
  { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 3 }, { type: 'null' }] },
  { anyOf: [
    { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false },
    { type: 'object', properties: { a: { type: 'string' }, b: { type: 'null' } }, required: ['a', 'b'],
      additionalProperties: false }] },
  { $defs: { node: { type: 'object', properties: { v: { type: 'integer' },
    kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
  required: ['v', 'kids'], additionalProperties: false } }, $ref: '#/$defs/node' },
  { type: 'object', properties: { n: { $ref: '#' } }, additionalProperties: false },
  { definitions: { s: { type: 'string', maxLength: 4 } }, type: 'object',
    properties: { a: { $ref: '#/definitions/s' }, b: { allOf: [{ $ref: '#/definitions/s' }] } },
    required: ['a', 'b'], additionalProperties: false },
  { type: 'object', additionalProperties: { type: 'array', items: { type: 'boolean' }, maxItems: 2 } },
  { type: 'object' },
  {},
  { type: ['integer', 'string'] },
  { type: 'object', title: 'Person', description: 'annotations are ignored',
    properties: { name: { type: 'string', maxLength: 8, description: 'd' },
      tags: { type: 'array', items: { type: 'string', enum: ['x', 'y'] }, maxItems: 3 },
      meta: { type: 'object', properties: { k: { type: 'number' } }, required: ['k'],
        additionalProperties: false } },
    required: ['name', 'tags', 'meta'], additionalProperties: false },
  { type: 'object', properties: { 'ké y': { type: 'string', minLength: 1, maxLength: 2 },
    'q"uote': { type: 'integer' } }, required: ['ké y', 'q"uote'], additionalProperties: false },
  { type: 'array', items: { anyOf: [{ type: 'number' }, { type: 'array', items: { type: 'null' }, maxItems: 1 }] },
    maxItems: 3 },
  { type: 'object', properties: { deep: { type: 'object', properties: { deeper: { type: 'object',
    properties: { v: { type: 'boolean' } }, required: ['v'], additionalProperties: false } },
  required: ['deeper'], additionalProperties: false } }, required: ['deep'], additionalProperties: false },
];

// A seeded generator over the supported keywords (mulberry32), so failures reproduce.
function rng(seed) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function generate(r, depth) {
  const pick = (n) => Math.floor(r() * n);
  switch (depth <= 0 ? 2 + pick(6) : pick(9)) {
    case 0: {
      const properties = {}; const required = [];
      const n = 1 + pick(3);
      for (let i = 0; i < n; i++) {
        const name = String.fromCharCode(97 + i) + (pick(2) ? '_k' : '');
        properties[name] = generate(r, depth - 1);
        if (pick(2)) required.push(name);
      }
      const o = { type: 'object', properties, required };
      if (pick(3)) o.additionalProperties = false;
      return o;
    }
    case 1: {
      const a = { type: 'array', items: generate(r, depth - 1) };
      const lo = pick(3);
      if (pick(2)) a.minItems = lo;
      if (pick(2)) a.maxItems = lo + pick(3);
      return a;
    }
    case 2: {
      const s = { type: 'string' };
      if (pick(2)) s.minLength = pick(4);
      if (pick(2)) s.maxLength = 4 + pick(4);
      return s;
    }
    case 3: return { type: pick(2) ? 'number' : 'integer' };
    case 4: return { type: pick(2) ? 'boolean' : 'null' };
    case 5: return { enum: ['a', 7, pick(2) ? null : 'bc'] };
    case 6: return { const: pick(2) ? 'k' : 3 };
    case 7: return { type: ['string', 'null'] };
    default: return { anyOf: [generate(r, depth - 1), generate(r, depth - 1)] };
  }
}
const r = rng(20240611);
const generated = Array.from({ length: 35 }, () => generate(r, 2));

async function constrained(schema, i, extra = {}) {
  return client.chat.completions.create({
    model: MODEL, messages, max_tokens: 64, temperature: 1, seed: 1000 + i,
    response_format: { type: 'json_schema', json_schema: { name: `s${i}`, schema, strict: true } },
    ...extra,
  });
}

function checkValid(schema, content, what) {
  let doc;
  assert.doesNotThrow(() => { doc = JSON.parse(content); }, `${what}: not JSON: ${content}`);
  const validate = ajv.compile(schema);
  assert.ok(validate(doc), `${what}: ${content}\n${JSON.stringify(schema)}\n${ajv.errorsText(validate.errors)}`);
}

// Several at once: the server batches them.
async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map((x, k) => fn(x, i + k)));
}

test(`json_schema: ${written.length} written and ${generated.length} generated schemas, every reply validates`, async () => {
  const all = [...written, ...generated];
  assert.ok(all.length >= 50);
  await inBatches(all, 12, async (schema, i) => {
    const res = await constrained(schema, i);
    const c = res.choices[0];
    assert.equal(c.finish_reason, 'stop', `schema ${i}: ${c.message.content}`);
    checkValid(schema, c.message.content, `schema ${i}`);
    assert.ok(res.usage.completion_tokens <= 64);
  });
});

test('json_schema: streamed deltas join to a valid document; n choices each validate', async () => {
  const schema = written[0];
  const stream = await client.chat.completions.create({
    model: MODEL, messages, max_tokens: 64, temperature: 1, seed: 7, stream: true,
    response_format: { type: 'json_schema', json_schema: { name: 'p', schema, strict: true } },
  });
  let text = ''; let finish;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'stop');
  checkValid(schema, text, 'stream');
  const res = await constrained(written[16], 99, { n: 3 });
  assert.equal(res.choices.length, 3);
  for (const c of res.choices) checkValid(written[16], c.message.content, 'n');
});

test('json_schema: max_tokens that fits the shortest document still ends valid; one that cannot says length', async () => {
  // {"name":"","age":0} is 19 bytes: 19 tokens always suffice (every byte is a token).
  for (let seed = 0; seed < 4; seed++) {
    const res = await constrained(written[0], seed, { max_tokens: 19 });
    assert.equal(res.choices[0].finish_reason, 'stop');
    checkValid(written[0], res.choices[0].message.content, `tight ${seed}`);
  }
  const short = await constrained(written[0], 0, { max_tokens: 3 });
  assert.equal(short.choices[0].finish_reason, 'length');
  assert.equal(short.usage.completion_tokens, 3);
});

test('strict function tools: required and named calls carry arguments that validate', async () => {
  const tools = [
    { type: 'function', function: { name: 'get_weather', strict: true, parameters: {
      type: 'object', properties: { city: { type: 'string', maxLength: 12 },
        unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false } } },
    { type: 'function', function: { name: 'add', strict: true, parameters: {
      type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } },
      required: ['a', 'b'], additionalProperties: false } } },
    { type: 'function', function: { name: 'noargs', strict: true } },
  ];
  const byName = Object.fromEntries(tools.map((t) => [t.function.name, t.function.parameters ??
    { type: 'object', properties: {}, additionalProperties: false }]));
  const choices = ['required', ...tools.map((t) => ({ type: 'function', function: { name: t.function.name } }))];
  await inBatches([...choices, ...choices], 8, async (tool_choice, i) => {
    const res = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Call a tool.' }], tools, tool_choice,
      max_tokens: 80, temperature: 1, seed: 50 + i,
    });
    const c = res.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
    const call = c.message.tool_calls[0];
    if (typeof tool_choice === 'object') assert.equal(call.function.name, tool_choice.function.name);
    checkValid(byName[call.function.name], call.function.arguments, `tool ${call.function.name}`);
  });
});

test('strict function tools under tool_choice auto: a reply that begins a call is held to the parameters', async () => {
  const params = { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string', maxLength: 5 } },
    required: ['n', 's'], additionalProperties: false };
  const tools = [{ type: 'function', function: { name: 'pick', strict: true, parameters: params } }];
  // Bias the model toward '{"' so that it begins a call; the constraint writes the rest.
  const ids = await tokenize('{"');
  const brace = ids[ids.length - 1];
  await inBatches([0, 1, 2, 3], 4, async (seed) => {
    const res = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'Call pick.' }], tools, tool_choice: 'auto',
      max_tokens: 64, temperature: 1, seed, logit_bias: { [brace]: 100 },
    });
    const c = res.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
    checkValid(params, c.message.tool_calls[0].function.arguments, 'auto call');
  });
  // Unbiased, the random model writes text: that stays free (and is not a tool call).
  const text = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Hi.' }], tools, tool_choice: 'auto',
    max_tokens: 8, temperature: 0,
  });
  assert.equal(text.choices[0].message.tool_calls, undefined);
});

const unsupported = [
  [{ type: 'string', pattern: '^a' }, 'pattern'],
  [{ type: 'string', format: 'date-time' }, 'format'],
  [{ type: 'number', minimum: 0 }, 'minimum'],
  [{ type: 'number', maximum: 10 }, 'maximum'],
  [{ type: 'integer', exclusiveMaximum: 3 }, 'exclusiveMaximum'],
  [{ type: 'integer', multipleOf: 2 }, 'multipleOf'],
  [{ oneOf: [{ type: 'string' }, { type: 'integer' }] }, 'oneOf'],
  [{ not: { type: 'string' } }, 'not'],
  [{ type: 'object', patternProperties: { '^x': {} } }, 'patternProperties'],
  [{ type: 'object', minProperties: 1 }, 'minProperties'],
  [{ type: 'object', properties: { a: { type: 'string' } }, dependentRequired: { a: ['b'] } }, 'dependentRequired'],
  [{ type: 'array', prefixItems: [{ type: 'string' }] }, 'prefixItems'],
  [{ type: 'array', contains: { type: 'string' } }, 'contains'],
  [{ type: 'array', uniqueItems: true }, 'uniqueItems'],
  [{ allOf: [{ type: 'string' }, { maxLength: 3 }] }, 'allOf'],
  [{ $ref: 'https://example.com/schema.json' }, '$ref'],
  [{ type: 'object', properties: { a: { $ref: '#/$defs/nope' } } }, '$ref'],
  [{ type: 'object', properties: { deep: { type: 'array', items: { type: 'string', format: 'email' } } } }, 'format'],
];

test(`every unsupported schema gets a 400 naming its keyword (${unsupported.length} cases)`, async () => {
  await inBatches(unsupported, 9, async ([schema, keyword]) => {
    const res = await post('/v1/chat/completions', {
      model: MODEL, messages, max_tokens: 4,
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema, strict: true } },
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(res.json.error.param, 'response_format.json_schema.schema');
    assert.ok(res.json.error.message.includes(`'${keyword}'`), res.json.error.message);
  });
  // The same through the client, and on a strict tool's parameters.
  await assert.rejects(
    client.chat.completions.create({ model: MODEL, messages, max_tokens: 4, response_format: {
      type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'string', pattern: 'x' } } } }),
    (e) => e.status === 400 && e.message.includes("'pattern'"));
  const tool = await post('/v1/chat/completions', {
    model: MODEL, messages, max_tokens: 4, tool_choice: 'required',
    tools: [{ type: 'function', function: { name: 'f', strict: true,
      parameters: { type: 'object', properties: { a: { type: 'string', format: 'uri' } } } } }],
  });
  assert.equal(tool.status, 400);
  assert.equal(tool.json.error.param, 'tools[0].function.parameters');
  assert.ok(tool.json.error.message.includes("'format'"));
  const missing = await post('/v1/chat/completions', {
    model: MODEL, messages, response_format: { type: 'json_schema' },
  });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.error.param, 'response_format.json_schema');
});
