#!/usr/bin/env node
// The long tasks of a V8 .cpuprofile (node --cpu-prof): stretches of samples with no idle sample
// between them, longer than a threshold, each with when it began, how long it ran and the
// functions (with their callers' chain, outermost first) that took most of it. What a healthy
// connection's latency spikes are made of: the event loop cannot answer while one of these runs.
// Usage: node scripts/cpuprofile-stalls.mjs FILE.cpuprofile [min-ms=5] [rows-per-stall=6]
import { readFileSync } from 'node:fs';
import process from 'node:process';
import console from 'node:console';

const [file, minArg, rowsArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node scripts/cpuprofile-stalls.mjs FILE.cpuprofile [min-ms] [rows]');
  process.exit(2);
}
const minUs = Number(minArg ?? 5) * 1000;
const rows = Number(rowsArg ?? 6);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (id) => {
  const { functionName, url, lineNumber } = byId.get(id).callFrame;
  return `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^node:/, '')}:${lineNumber + 1}`;
};
// The frame that says what a sample was doing: its own, plus the nearest of our frames above it.
const label = (id) => {
  const own = name(id);
  for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
    const url = byId.get(p).callFrame.url;
    if (/\/dist\/src\//.test(url)) return `${own}  <- ${name(p)}`;
  }
  return own;
};
const isIdle = (id) => byId.get(id).callFrame.functionName === '(idle)';

const stalls = [];
let t = 0;
let cur;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  if (isIdle(id)) {
    if (cur && cur.us >= minUs) stalls.push(cur);
    cur = undefined;
    continue;
  }
  cur ??= { at: t, us: 0, by: new Map() };
  cur.us += dt;
  const key = label(id);
  cur.by.set(key, (cur.by.get(key) ?? 0) + dt);
}
if (cur && cur.us >= minUs) stalls.push(cur);
const total = stalls.reduce((a, s) => a + s.us, 0);
console.log(`${stalls.length} tasks of ${minUs / 1000} ms or more, ${(total / 1000).toFixed(0)} ms in all, over ${(t / 1e6).toFixed(1)} s sampled`);
// Over all stalls: what they were made of.
const all = new Map();
for (const s of stalls) for (const [k, us] of s.by) all.set(k, (all.get(k) ?? 0) + us);
console.log('made of:');
for (const [k, us] of [...all].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`);
console.log('longest:');
for (const s of [...stalls].sort((a, b) => b.us - a.us).slice(0, 15)) {
  console.log(`  at ${(s.at / 1e6).toFixed(2)} s: ${(s.us / 1000).toFixed(1)} ms`);
  for (const [k, us] of [...s.by].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`      ${(us / 1000).toFixed(1).padStart(6)} ms  ${k}`);
}
