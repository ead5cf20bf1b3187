// Continuous batching seen from the outside: a greedy request gives the same tokens alone and
// beside 15 others of different lengths; a client that disconnects mid-stream is cancelled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, MODEL, metrics, sleep } from './common.mjs';

function request(i) {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
  const content = Array.from({ length: 1 + ((i * 7) % 23) }, (_, k) => words[(i + k) % 5]).join(' ');
  return {
    model: MODEL, messages: [{ role: 'user', content }], temperature: 0,
    max_tokens: 3 + (i % 6), logprobs: true,
  };
}

const tokensOf = (r) => r.choices[0].logprobs.content.map((e) => e.bytes);

test('16 concurrent greedy requests equal the same requests run alone', async () => {
  const alone = [];
  for (let i = 0; i < 16; ++i) alone.push(await client.chat.completions.create(request(i)));
  const together = await Promise.all(
    Array.from({ length: 16 }, (_, i) => client.chat.completions.create(request(i))));
  for (let i = 0; i < 16; ++i) {
    assert.deepEqual(tokensOf(together[i]), tokensOf(alone[i]), `request ${i}`);
    assert.equal(together[i].choices[0].message.content, alone[i].choices[0].message.content);
    // Run again, a prompt finds more of itself in the prefix cache: only cached_tokens differs.
    const counts = (u) => ({ ...u, prompt_tokens_details: undefined });
    assert.deepEqual(counts(together[i].usage), counts(alone[i].usage));
  }
});

test('a client that disconnects mid-stream is cancelled at once', async () => {
  const before = (await metrics()).get('hearth_requests_cancelled_total');
  const controller = new AbortController();
  const stream = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Tell me everything.' }], max_tokens: 400,
    stream: true,
  }, { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const _ of stream) {
      if (++chunks === 2) controller.abort();
    }
  } catch (e) {
    assert.equal(e.name, 'APIUserAbortError');  // some client versions end quietly instead
  }
  assert.ok(chunks >= 2);  // chunks already buffered may still arrive after abort()
  // The scheduler notices within a few tokens: no sequence left running, blocks back.
  let m;
  for (let tries = 0; tries < 100; ++tries) {
    m = await metrics();
    if (m.get('hearth_running_sequences') === 0 && m.get('hearth_requests_cancelled_total') > before) break;
    await sleep(50);
  }
  assert.equal(m.get('hearth_running_sequences'), 0);
  assert.equal(m.get('hearth_queue_depth'), 0);
  assert.equal(m.get('hearth_requests_cancelled_total'), before + 1);
  assert.equal(m.get('hearth_kv_blocks_used'), 0);
  assert.equal(m.get('hearth_http_requests_in_flight'), 0);
});

