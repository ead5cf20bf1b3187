// /metrics after the other suites have run (files run in name order): every series present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metrics } from './common.mjs';

test('metrics: Prometheus text with requests, tokens, latency histograms', async () => {
  const { text, get } = await metrics();
  assert.match(text, /^# TYPE hearth_requests_total counter$/m);
  assert.match(text, /^hearth_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+$/m);
  assert.match(text, /^hearth_requests_total\{endpoint="\/v1\/chat\/completions",status="400"\} \d+$/m);
  assert.ok(get('hearth_prompt_tokens_total') > 0);
  assert.ok(get('hearth_completion_tokens_total') > 0);
  assert.ok(get('hearth_kv_blocks_free') > 0);
  assert.match(text, /^hearth_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
  assert.match(text, /^hearth_inter_token_latency_seconds_count [1-9]\d*$/m);
  assert.match(text, /^# TYPE hearth_batch_tokens gauge$/m);
});
