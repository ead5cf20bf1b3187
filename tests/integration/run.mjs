// Integration runner: starts `hearth serve` on a free port with the bundled random model, waits
// for /health, runs the node --test suites against it with the official openai and @anthropic-ai/sdk clients, then
// checks the graceful shutdown (in-flight stream ends cleanly, new work gets 503, exit code 0).
//
//   node run.mjs --hearth path/to/hearth --model tests/data/devB
//                [--launcher "mpirun -np 2 ..."] [--threads N]
// With --launcher the server runs under it (tensor parallelism over mpirun's ranks); the
// suites and the shutdown check are the same.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const hearth = arg('--hearth');
const model = arg('--model');
const launcher = (arg('--launcher') ?? '').split(' ').filter((w) => w.length > 0);
const threads = arg('--threads') ?? '2';
if (!hearth || !model) {
  console.error('usage: node run.mjs --hearth BIN --model DIR');
  process.exit(2);
}
if (!['openai', '@anthropic-ai/sdk'].every((m) => existsSync(join(here, 'node_modules', m)))) {
  console.error('tests/integration/node_modules is missing: run `make setup` (npm ci) first');
  process.exit(1);
}

const API_KEY = 'sk-hearth-test';
const SERVER_ARGS = [
  'serve', model, '--port', '0', '--threads', threads, '--ctx', '512', '--max-seqs', '16',
  '--max-queue', '32', '--api-key', API_KEY, '--max-body', '0.25', '--shutdown-grace', '1',
  '--alias', 'claude-test', '--alias', 'gpt-test',
];

function startServer() {
  const [cmd, ...args] = [...launcher, hearth, ...SERVER_ARGS];
  // Open MPI leaks at exit (its unloaded components' allocations): under a launcher a sanitizer
  // build checks addresses and undefined behaviour in the ranks, not leaks (as the CLI's
  // tensor-parallel tests do).
  const env = launcher.length > 0
    ? { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:detect_leaks=0` }
    : process.env;
  const proc = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'], env });
  let log = '';
  const port = new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d.toString();
      process.stderr.write(d);
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`hearth serve exited early (${code})\n${log}`)));
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, port, exited, log: () => log };
}

async function waitHealthy(base, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not become healthy');
}

function runNodeTests(env) {
  const files = readdirSync(join(here, 'tests')).filter((f) => f.endsWith('.test.mjs')).sort();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--test', '--test-concurrency=1',
      ...files.map((f) => join(here, 'tests', f))], { stdio: 'inherit', env: { ...process.env, ...env } });
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

// SIGTERM while a long stream runs: /health turns 503, new requests get 503, the stream ends
// with an error event (grace is 1 s), and the process exits 0.
async function checkShutdown(server, base) {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` };
  const body = JSON.stringify({
    model: 'devB', stream: true, max_tokens: 400,
    messages: [{ role: 'user', content: 'a long story' }],
  });
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers, body });
  if (res.status !== 200) throw new Error(`stream status ${res.status}`);
  const reader = res.body.getReader();
  await reader.read();  // the stream is running
  // Under a launcher the signal goes to rank 0, as a signal to a single server would: mpirun
  // itself forwards one only after a delay, and then ends the job however the ranks fare.
  if (launcher.length > 0) process.kill(rankZeroOf(server.proc.pid), 'SIGTERM');
  else server.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const health = await fetch(`${base}/health`);
  if (health.status !== 503) throw new Error(`/health during shutdown: ${health.status}`);
  const late = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers,
    body: JSON.stringify({ model: 'devB', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 }),
  });
  const lateBody = await late.json();
  if (late.status !== 503 || lateBody.error?.code !== 'shutting_down')
    throw new Error(`request during shutdown: ${late.status} ${JSON.stringify(lateBody)}`);
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  const last = events[events.length - 1];
  if (!(last === 'data: [DONE]' || JSON.parse(last.slice(6)).error))
    throw new Error(`stream did not end cleanly: ${last}`);
  const { code, signal } = await server.exited;
  if (code !== 0) throw new Error(`hearth serve exited with ${code ?? signal}`);
  console.log('# shutdown: ok (stream ended with', last.startsWith('data: [DONE]') ? '[DONE]' : 'an error event', ', exit 0)');
}

// The process mpirun started as rank 0 (a child of the launcher, on this machine).
function rankZeroOf(launcherPid) {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (ppid === launcherPid && env.includes('OMPI_COMM_WORLD_RANK=0')) return Number(d);
    } catch {}
  }
  throw new Error(`no rank 0 under launcher pid ${launcherPid}`);
}

const server = startServer();
let status = 1;
try {
  const port = await server.port;
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base);
  status = await runNodeTests({
    HEARTH_URL: base, HEARTH_BIN: hearth, HEARTH_MODEL: model, HEARTH_API_KEY: API_KEY,
  });
  await checkShutdown(server, base);
} catch (e) {
  console.error('integration runner:', e);
  status = 1;
} finally {
  if (server.proc.exitCode === null) server.proc.kill('SIGKILL');
}
process.exit(status);
