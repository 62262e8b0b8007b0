// SPDX-License-Identifier: Apache-2.0
// The fake model's own cost: 200 sequential streaming requests (a tool-call answer, read to the
// end) from one keep-alive client; prints {"kind":"fake","p50_ms","p99_ms"}.
const [base] = process.argv.slice(2);
const body = JSON.stringify({
  model: 'fake-model',
  stream: true,
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
});
const times = [];
for (let i = 0; i < 200; i++) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await r.text();
  times.push(performance.now() - t0);
}
await fetch(`${base}/stats/reset`, { method: 'POST' });
times.sort((a, b) => a - b);
console.log(JSON.stringify({ kind: 'fake', p50_ms: times[100], p99_ms: times[197] }));
