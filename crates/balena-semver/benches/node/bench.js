#!/usr/bin/env node
// Node.js baseline for the balena-semver crate's benchmark: the same work
// with balena-semver@4.1.16 on the same inputs (written by the Rust example
// `bench_inputs`), checking that the answers are identical.
//
//   node bench.js inputs.json [results.json]
'use strict';

const fs = require('fs');
const bs = require('balena-semver');

const [inputPath, resultPath] = process.argv.slice(2);
if (!inputPath) {
  console.error('usage: node bench.js inputs.json [results.json]');
  process.exit(2);
}
const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
const { versions, ranges, pairs, expected } = input;
const RUNS = Number(process.env.RUNS || 3);

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  const out = fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, out];
};

// Sort: compare is memoised upstream; empty its cache before each run so
// every run does the work a fresh list needs.
const sortTimes = [];
let sorted;
for (let i = 0; i < RUNS; i++) {
  bs.compare.clear();
  const list = versions.slice();
  const [ms] = time(() => list.sort(bs.compare));
  sortTimes.push(ms);
  sorted = list;
}

const satTimes = [];
let bits;
for (let i = 0; i < RUNS; i++) {
  const [ms, out] = time(() => {
    let s = '';
    for (const [v, r] of pairs) s += bs.satisfies(versions[v], ranges[r]) ? '1' : '0';
    return s;
  });
  satTimes.push(ms);
  bits = out;
}

let ok = true;
const firstDiff = sorted.findIndex((v, i) => v !== expected.sorted[i]);
if (firstDiff !== -1 || sorted.length !== expected.sorted.length) {
  ok = false;
  console.error(`sorted lists differ at ${firstDiff}: node ${JSON.stringify(sorted[firstDiff])} rust ${JSON.stringify(expected.sorted[firstDiff])}`);
}
if (bits !== expected.satisfies) {
  ok = false;
  const at = [...bits].findIndex((b, i) => b !== expected.satisfies[i]);
  console.error(`satisfies differs at call ${at}: ${JSON.stringify(versions[pairs[at][0]])} ${JSON.stringify(ranges[pairs[at][1]])}`);
}
const results = {
  node: process.version,
  sortMs: median(sortTimes),
  satisfiesMs: median(satTimes),
  satisfiesTrue: [...bits].filter((b) => b === '1').length,
  identical: ok,
};
console.log(JSON.stringify(results));
if (resultPath) fs.writeFileSync(resultPath, JSON.stringify(results));
process.exit(ok ? 0 : 1);
