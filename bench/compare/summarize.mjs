// SPDX-License-Identifier: Apache-2.0
// Turns run.sh's results (one JSON object per line) into the Markdown table with ratios, and
// says whether every answer and every model-request count was right.
import fs from 'node:fs';

const [file, duration] = process.argv.slice(2);
const rows = fs
  .readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mb = (kb) => kb / 1024;
const fmt = (x, digits = 1) => Number(x).toFixed(digits);
const ratio = (flue, cpp, higherIsBetter = false) => {
  if (!flue || !cpp) return 'n/a';
  const r = higherIsBetter ? cpp / flue : flue / cpp;
  return `${fmt(r, r >= 10 ? 0 : 1)}×`;
};

const problems = [];
const out = [];
out.push('| Measure | Flue 2.0.3 | CppFlue | CppFlue advantage |');
out.push('|---|---|---|---|');

// CLI
const cli = (system) => rows.filter((r) => r.kind === 'cli' && r.system === system);
const cliStats = {};
for (const system of ['flue', 'cppflue']) {
  const rs = cli(system);
  for (const r of rs) {
    if (!r.ok) problems.push(`${system} CLI run answered wrongly`);
    if (r.model_requests !== 2) problems.push(`${system} CLI run: the model got ${r.model_requests} requests, not 2`);
  }
  const walls = rs.map((r) => r.wall_s * 1000);
  const rss = rs.map((r) => mb(r.rss_kb));
  cliStats[system] = {
    n: rs.length,
    wall: median(walls),
    wallMin: Math.min(...walls),
    wallMax: Math.max(...walls),
    rss: median(rss),
    rssMin: Math.min(...rss),
    rssMax: Math.max(...rss),
  };
}
const f = cliStats.flue;
const c = cliStats.cppflue;
out.push(
  `| CLI cold prompt, wall (median of ${f.n}; min–max) | ${fmt(f.wall, 0)} ms (${fmt(f.wallMin, 0)}–${fmt(f.wallMax, 0)}) | ${fmt(c.wall, 0)} ms (${fmt(c.wallMin, 0)}–${fmt(c.wallMax, 0)}) | ${ratio(f.wall, c.wall)} faster |`,
);
out.push(
  `| CLI cold prompt, peak RSS (median; min–max) | ${fmt(f.rss)} MiB (${fmt(f.rssMin)}–${fmt(f.rssMax)}) | ${fmt(c.rss)} MiB (${fmt(c.rssMin)}–${fmt(c.rssMax)}) | ${ratio(f.rss, c.rss)} less |`,
);

// Servers
const idle = (system) => rows.find((r) => r.kind === 'idle' && r.system === system)?.rss_kb;
out.push(
  `| server idle RSS after start | ${fmt(mb(idle('flue')))} MiB | ${fmt(mb(idle('cppflue')))} MiB | ${ratio(idle('flue'), idle('cppflue'))} less |`,
);
const loads = rows.filter((r) => r.kind === 'load');
const levels = [...new Set(loads.map((r) => r.result.conversations))];
for (const level of levels) {
  const get = (system) => loads.find((r) => r.result.system === system && r.result.conversations === level);
  const lf = get('flue');
  const lc = get('cppflue');
  for (const l of [lf, lc]) {
    if (!l) continue;
    const r = l.result;
    if (r.errors) problems.push(`${r.system} at ${level}: ${r.errors} failed prompts (${r.first_error})`);
    if (r.wrong) problems.push(`${r.system} at ${level}: ${r.wrong} wrong answers`);
    // Every answered prompt is 2 model calls; a prompt cut off by the deadline may add some.
    if (l.model_requests < 2 * r.prompts || l.model_requests > 2 * (r.prompts + level)) {
      problems.push(`${r.system} at ${level}: ${r.prompts} prompts but ${l.model_requests} model requests`);
    }
  }
  if (!lf || !lc) continue;
  out.push(
    `| ${level} conversation${level > 1 ? 's' : ''}: prompts/s (${duration} s) | ${fmt(lf.result.per_second)} | ${fmt(lc.result.per_second)} | ${ratio(lf.result.per_second, lc.result.per_second, true)} more |`,
  );
  out.push(
    `| ${level} conversation${level > 1 ? 's' : ''}: p50 / p99 latency | ${fmt(lf.result.p50_ms)} / ${fmt(lf.result.p99_ms)} ms | ${fmt(lc.result.p50_ms)} / ${fmt(lc.result.p99_ms)} ms | ${ratio(lf.result.p50_ms, lc.result.p50_ms)} / ${ratio(lf.result.p99_ms, lc.result.p99_ms)} lower |`,
  );
}
const after = (system) => rows.find((r) => r.kind === 'after' && r.system === system)?.rss_kb;
out.push(
  `| server RSS after the load | ${fmt(mb(after('flue')))} MiB | ${fmt(mb(after('cppflue')))} MiB | ${ratio(after('flue'), after('cppflue'))} less |`,
);

const fake = rows.find((r) => r.kind === 'fake');
if (fake) {
  out.push('');
  out.push(
    `The fake model alone (200 sequential streaming requests from one client): p50 ${fmt(fake.p50_ms, 2)} ms, p99 ${fmt(fake.p99_ms, 2)} ms.`,
  );
}
console.log(out.join('\n'));
console.log('');
const prompts = loads.reduce((n, r) => n + r.result.prompts, 0);
if (problems.length) {
  console.log(`Checks: ${problems.length} problem(s):`);
  for (const p of problems) console.log(`- ${p}`);
} else {
  console.log(
    `Checks: every CLI answer and all ${prompts} server answers were the expected text; the fake model received 2 requests per prompt.`,
  );
}
