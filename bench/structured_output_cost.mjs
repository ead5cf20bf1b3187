// What a JSON-schema constraint costs in decode speed: starts `hearth serve MODEL`, then in
// interleaved rounds streams the same request unconstrained and under response_format
// json_schema (a free string: the in-string table path; an object: the trie walk), and prints
// the median decode rate of each (tokens after the first / time from the first to the last).
// Not part of `make test`.
//
//   node bench/structured_output_cost.mjs --hearth build/hearth --model 1b-q4_0.gguf \
//        [--rounds 7] [--tokens 48] [--threads 2] [--json]
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const hearth = arg('--hearth');
const model = arg('--model');
const rounds = Number(arg('--rounds', 7));
const tokens = Number(arg('--tokens', 48));
const threads = arg('--threads', '2');
const asJson = process.argv.includes('--json');
if (!hearth || !model) {
  console.error('usage: node structured_output_cost.mjs --hearth BIN --model FILE [--rounds N] [--tokens N] [--threads N] [--json]');
  process.exit(2);
}

const modes = {
  text: undefined,
  schema_string: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'string' } } },
  schema_object: { type: 'json_schema', json_schema: { name: 'o', schema: {
    type: 'object', properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } },
      score: { type: 'number' }, ok: { type: 'boolean' } },
    required: ['name', 'tags', 'score', 'ok'], additionalProperties: false } } },
};

const server = spawn(hearth, ['serve', model, '--port', '0', '--threads', threads, '--ctx', '1024'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
const port = await new Promise((resolve, reject) => {
  let log = '';
  server.stderr.on('data', (d) => {
    log += d.toString();
    const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`hearth serve exited (${code}): ${log}`)));
});
const base = `http://127.0.0.1:${port}`;

async function run(mode, seed) {
  const body = {
    model: basename(model), messages: [{ role: 'user', content: 'Describe a person as JSON.' }],
    max_tokens: tokens, temperature: 1, seed, stream: true, stream_options: { include_usage: true },
  };
  if (modes[mode]) body.response_format = modes[mode];
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${mode}: HTTP ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let first = 0, last = 0, n = 0, buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += Buffer.from(value).toString();
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) n = j.usage.completion_tokens;
      if (j.choices?.[0]?.delta?.content) {
        last = performance.now();
        if (!first) first = last;
      }
    }
  }
  return (n - 1) / ((last - first) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rates = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
try {
  await run('text', 0);  // warm-up
  for (let r = 0; r < rounds; r++) {
    const order = Object.keys(modes);
    if (r % 2) order.reverse();
    for (const m of order) rates[m].push(await run(m, r));
    if (!asJson && process.stderr.isTTY) process.stderr.write(`\rround ${r + 1}/${rounds}`);
  }
} finally {
  server.kill('SIGTERM');
}
const out = { model, tokens, rounds, threads: Number(threads), tok_s: {}, ratio_vs_text: {}, spread: {} };
for (const m of Object.keys(modes)) {
  out.tok_s[m] = median(rates[m]);
  out.ratio_vs_text[m] = out.tok_s[m] / out.tok_s.text;
  out.spread[m] = [Math.min(...rates[m]), Math.max(...rates[m])];
}
if (asJson) {
  console.log(JSON.stringify(out, null, 2));
} else {
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const m of Object.keys(modes))
    console.log(`${m.padEnd(14)} ${out.tok_s[m].toFixed(2)} tok/s (min ${out.spread[m][0].toFixed(2)}, max ${out.spread[m][1].toFixed(2)})  x${out.ratio_vs_text[m].toFixed(3)} of text`);
}
