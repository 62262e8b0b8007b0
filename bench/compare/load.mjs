// SPDX-License-Identifier: Apache-2.0
// The load generator, the same program for both servers:
//
//   node load.mjs flue|cppflue BASE_URL CONVERSATIONS SECONDS
//
// CONVERSATIONS conversations run at once, each sending its next prompt as soon as the previous
// answer arrived, for SECONDS. After PROMPTS_PER_CONVERSATION (20) prompts a worker moves on to a
// new conversation, so histories stay short and alike on both systems (no compaction). One
// prompt ("What is the weather in Paris?") is 2 model calls and one get_weather call.
//   flue:    @flue/sdk — client.send({message}) then client.read(admission) on
//            BASE_URL/agents/weather/<conversation> (admission, then the update stream until the
//            submission settles, then the history snapshot for the reply).
//   cppflue: POST BASE_URL/agents/weather/<conversation> {"message"} → {"result":{"text",...}}
//            (one request that answers when the prompt is done).
// Prints one JSON line: {system, conversations, seconds, prompts, per_second, p50_ms, p99_ms,
// errors, wrong, sample}.
import { createFlueClient } from '@flue/sdk';

const [system, base, conversationsArg, secondsArg] = process.argv.slice(2);
const conversations = Number(conversationsArg);
const seconds = Number(secondsArg);
const expected = 'Final answer: the tool said {"city":"Paris","forecast":"sunny","tempC":21}.';
const prompt = 'What is the weather in Paris?';
const run = `${system}-${Date.now()}`;
const PROMPTS_PER_CONVERSATION = 20;

function replyText(reply) {
  if (typeof reply === 'string') return reply;
  if (typeof reply?.text === 'string') return reply.text;
  if (Array.isArray(reply?.parts)) {
    return reply.parts.filter((p) => p.type === 'text').map((p) => p.text).join('\n\n');
  }
  return JSON.stringify(reply);
}

function makeConversation(index, round) {
  const url = `${base}/agents/weather/${run}-${index}-${round}`;
  if (system === 'flue') {
    const client = createFlueClient({ url });
    return async () => {
      const admission = await client.send({ message: { kind: 'user', body: prompt } });
      return replyText(await client.read(admission));
    };
  }
  return async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: prompt }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    const body = await response.json();
    return body.result.text;
  };
}

const latencies = [];
let errors = 0;
let wrong = 0;
let sample = '';
let firstError = '';
const deadline = performance.now() + seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: conversations }, async (_, i) => {
    let round = 0;
    let sent = 0;
    let send = makeConversation(i, round);
    while (performance.now() < deadline) {
      if (sent++ === PROMPTS_PER_CONVERSATION) {
        send = makeConversation(i, ++round);
        sent = 1;
      }
      const t0 = performance.now();
      try {
        const text = await send();
        latencies.push(performance.now() - t0);
        if (!sample) sample = text;
        if (!text.includes(expected)) wrong++;
      } catch (e) {
        errors++;
        if (!firstError) firstError = String(e?.message ?? e);
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0);
console.log(
  JSON.stringify({
    system,
    conversations,
    seconds: Number(elapsed.toFixed(2)),
    prompts: latencies.length,
    per_second: Number((latencies.length / elapsed).toFixed(1)),
    p50_ms: Number(pct(0.5).toFixed(2)),
    p99_ms: Number(pct(0.99).toFixed(2)),
    errors,
    wrong,
    sample,
    first_error: firstError,
  }),
);
