#!/usr/bin/env node
// Self time by function of a V8 .cpuprofile (node --cpu-prof), highest first, with the share of
// each category (GC, program, idle, node internals, dependencies by package, our code by file).
// Usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [rows=40] [FROM-TO seconds after the start]
// Without a window it also prints the busy share per second, to find the window of a load phase.
import { readFileSync } from 'node:fs';
import process from 'node:process';
import console from 'node:console';

const [file, rowsArg, windowArg] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [rows]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
const [from, to] = windowArg === undefined ? [0, Infinity] : windowArg.split('-').map((x) => Number(x) * 1e6);
const perSecond = [];
let t = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  t += dt[i] ?? 0;
  const sec = Math.floor(t / 1e6);
  perSecond[sec] ??= { busy: 0, all: 0 };
  perSecond[sec].all += dt[i] ?? 0;
  if (byId.get(id).callFrame.functionName !== '(idle)') perSecond[sec].busy += dt[i] ?? 0;
  if (t < from || t >= to) continue;
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
if (windowArg === undefined) {
  console.log('busy share per second: ' + perSecond.map((b, i) => `${i}:${b === undefined ? 0 : Math.round((100 * b.busy) / Math.max(1, b.all))}`).join(' '));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const cat = new Map();
const category = (url, name) => {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'program (native, not attributed)';
  if (url === '') return `native: ${name}`;
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `dep: ${nm[1]}`;
  const ours = /\/dist\/(.*)$/.exec(url);
  return ours ? `ours: ${ours[1]}` : url;
};
for (const [id, us] of self) {
  const n = byId.get(id);
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || '(anonymous)';
  const key = `${name} ${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const c = category(url, name);
  cat.set(c, (cat.get(c) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const busy = total - (cat.get('idle') ?? 0);
console.log(`total ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s`);
console.log('-- by category (share of all samples)');
for (const [c, us] of [...cat].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${c}`);
console.log('-- by function (self time)');
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, Number(rowsArg ?? 40))) console.log(`${pct(us)}  ${k}`);
