// SPDX-License-Identifier: Apache-2.0
// The benchmark's model: an OpenAI-compatible chat-completions endpoint on 127.0.0.1 that
// answers in well under a millisecond and counts what it receives.
//
//   FAKE_PORT=0 node fake-model.mjs      → prints "fake-model listening on <port>"
//
// POST /v1/chat/completions: when `get_weather` is offered and the conversation's last message
// is not a tool result, the answer is one get_weather call for Paris; after a tool result it is
// the final text "Final answer: the tool said <result>." (no tool offered: a greeting).
// `stream: true` gets chat.completion.chunk SSE (role, content pieces or a tool call in
// fragments, finish_reason, a usage chunk when asked, [DONE]); `stream: false` one JSON object.
// GET /stats → {"requests", "tool_calls", "final_answers", "errors"}; POST /stats/reset zeroes it.
// FAKE_LOG=path appends every request body as one JSON line.
import fs from 'node:fs';
import http from 'node:http';

const stats = { requests: 0, tool_calls: 0, final_answers: 0, errors: 0 };
const logPath = process.env.FAKE_LOG ?? '';
let nextId = 0;

function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p === 'string' ? p : (p?.text ?? ''))).join('');
  }
  return content == null ? '' : JSON.stringify(content);
}

// What to answer: {tool: {name, args}} or {text}.
function answerFor(body) {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const offered = (Array.isArray(body.tools) ? body.tools : []).map(
    (t) => t?.function?.name ?? t?.name,
  );
  const last = messages[messages.length - 1];
  if (last?.role === 'tool') {
    return { text: `Final answer: the tool said ${textOf(last.content)}.` };
  }
  if (offered.includes('get_weather')) {
    return { tool: { name: 'get_weather', args: JSON.stringify({ city: 'Paris' }) } };
  }
  return { text: 'Hello from the fake model.' };
}

function chunk(id, model, delta, finish = null) {
  return {
    id,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

const usage = { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 };

function respond(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    stats.errors++;
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'request body is not JSON', type: 'invalid_request_error' } }));
    return;
  }
  stats.requests++;
  if (logPath) fs.appendFileSync(logPath, JSON.stringify(body) + '\n');
  const answer = answerFor(body);
  if (answer.tool) stats.tool_calls++;
  else stats.final_answers++;
  const id = `chatcmpl-${++nextId}`;
  const model = body.model ?? 'fake-model';

  if (!body.stream) {
    const message = answer.tool
      ? {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: `call_${nextId}`, type: 'function', function: { name: answer.tool.name, arguments: answer.tool.args } },
          ],
        }
      : { role: 'assistant', content: answer.text };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message, finish_reason: answer.tool ? 'tool_calls' : 'stop' }],
        usage,
      }),
    );
    return;
  }

  const events = [chunk(id, model, { role: 'assistant', content: '' })];
  if (answer.tool) {
    const half = Math.floor(answer.tool.args.length / 2);
    events.push(
      chunk(id, model, {
        tool_calls: [{ index: 0, id: `call_${nextId}`, type: 'function', function: { name: answer.tool.name, arguments: '' } }],
      }),
      chunk(id, model, { tool_calls: [{ index: 0, function: { arguments: answer.tool.args.slice(0, half) } }] }),
      chunk(id, model, { tool_calls: [{ index: 0, function: { arguments: answer.tool.args.slice(half) } }] }),
      chunk(id, model, {}, 'tool_calls'),
    );
  } else {
    for (let i = 0; i < answer.text.length; i += 16) {
      events.push(chunk(id, model, { content: answer.text.slice(i, i + 16) }));
    }
    events.push(chunk(id, model, {}, 'stop'));
  }
  if (body.stream_options?.include_usage) {
    events.push({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [], usage });
  }
  let out = '';
  for (const e of events) out += `data: ${JSON.stringify(e)}\n\n`;
  out += 'data: [DONE]\n\n';
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.end(out);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/stats/reset') {
    for (const k of Object.keys(stats)) stats[k] = 0;
    res.writeHead(204);
    res.end();
    return;
  }
  if (req.method !== 'POST' || !url.pathname.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url.pathname}` } }));
    return;
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => respond(req, res, Buffer.concat(parts).toString('utf8')));
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.FAKE_PORT ?? 0), '127.0.0.1', () => {
  console.log(`fake-model listening on ${server.address().port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
