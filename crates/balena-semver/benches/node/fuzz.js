#!/usr/bin/env node
// Differential fuzzing oracle: generates random version-like strings and
// ranges (seeded), asks the real balena-semver@4.1.16 for its answers and
// writes them in the shared vector format (semver-*.json shapes), so the
// Rust vector runner can check them:
//
//   node fuzz.js SEED COUNT OUTDIR
//   cargo run --release -p balena-semver --example vectors -- OUTDIR/*.json
'use strict';

const fs = require('fs');
const path = require('path');
const semver = require('semver');

// Observe the string balena-semver hands to node-semver, as the recorded
// vectors do (balena-semver reads `semver.parse` through a live binding).
let lastNormalized;
const origParse = semver.parse;
semver.parse = (v, ...rest) => {
  lastNormalized = v;
  return origParse(v, ...rest);
};
const bs = require('balena-semver');

const [seedArg, countArg, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node fuzz.js SEED COUNT OUTDIR');
  process.exit(2);
}
let seed = Number(seedArg) >>> 0;
const count = Number(countArg);

function rand() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const chance = (p) => rand() < p;

const NUMS = ['0', '1', '2', '6', '88', '39', '4', '0', '1', '2', '3', '6', '10', '88', '00', '01', '04', '007', '2019', '2022', '12345',
  '9007199254740990', '9007199254740991', '9007199254740992', '9007199254740993',
  '99999999999999999999', '1111111111111111111111111'];
const SMALL = ['0', '1', '2', '3', '4', '5', '6', '9', '10', '14', '16', '29', '39', '50', '88', '2019', '2022'];
const num = () => (chance(0.02) ? '1'.repeat(1 + Math.floor(rand() * 300)) : chance(0.7) ? pick(SMALL) : pick(NUMS));
const PREFIX = ['', '', '', '', 'v', 'vv', 'V', '=', ' ', '  ', '\t', '\u00a0', '\ufeff', '\u0085',
  'Resin OS ', 'balenaOS ', 'BALENA OS', 'resinos', 'balena-os ', 'Reſin OS ', 'foo ', 'balenaOS\u2028'];
const PRE = ['', '', '', '-rc1', '-rc.1', '-0', '-00', '-0a', '-beta.8', '-beta10', '-dev', '-prod', '-1234',
  '-a.b.c', '-', '-rc..1', '-9007199254740990', '-9007199254740991', '-9007199254740993', '-x.7.z.92',
  '-rc1.rev1', '-rc.1.rev1', '-RC.1', '-alpha.10.beta.0', '--', '-a-b'];
const BUILD = ['', '', '', '+rev1', '.rev1', '+rev01', '+rev00', '.dev', '.prod', '.PROD', '.Dev', '_logstream',
  '_a_b', ' (prod)', '  (prod)', '(prod)', ' (foo_bar)', ' (foo-bar)', '+rev1.prod', '+rev1.dev', '+rev3 (dev)',
  '.production', '+', '++rev1', '+rev2.rev1', '+prev1', '+rev1ve', '+REV1', '+rev99999999999999999999',
  '+build.1.2.3 (dev)', '.rev', '+dev', '+prod', '+asd123.dev', ' (dev)', '+rev9007199254740993'];
const SUFFIX = ['', '', '', '', ' balenaOS', ' ', '\u00a0', ' (dev)', ' (prod)', '\u0085', '\ufeff', ' LTS'];
const CHARS = ['0', '1', '9', '.', '-', '+', '_', ' ', '(', ')', 'v', 'x', 'a', 'Z', 'r', 'e', 'd',
  '\t', '\u00a0', '\u3000', '\ufeff', '\u0085', '\u200b', 'é', '😀', '\uff21', '\u0000', '*', '~', '^', '<', '>', '=', '|'];

function mutate(str) {
  // Work on code points so that no surrogate pair is split.
  const s = Array.from(str);
  const n = 1 + Math.floor(rand() * 2);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.5) s.splice(at, 0, pick(CHARS));
    else if (op < 0.8) s.splice(at, 1);
    else s.splice(at, 0, ...s.slice(at, at + 3));
  }
  return s.join('');
}

function version() {
  let core = num();
  const parts = chance(0.85) ? 3 : pick([1, 2, 4]);
  for (let i = 1; i < parts; i++) core += '.' + num();
  const opt = (list) => (chance(0.5) ? '' : pick(list));
  let s = opt(PREFIX) + core + opt(PRE) + opt(BUILD) + opt(SUFFIX);
  if (chance(0.15)) s = mutate(s);
  return s;
}

const OPS = ['', '', '', '=', '==', '<', '<=', '>', '>=', '~', '~>', '^', 'v', '=v', '>>', '=>', '!', '< ', '>= ', '~ ', '^ '];
function partial() {
  const xs = ['x', 'X', '*'];
  const comp = () => (chance(0.2) ? pick(xs) : num());
  let s = comp();
  const parts = pick([1, 2, 3, 3, 3]);
  for (let i = 1; i < parts; i++) s += '.' + comp();
  if (parts === 3 && chance(0.3)) s += pick(PRE) || pick(['beta', 'rc1']);
  if (chance(0.15)) s += pick(['+rev1', '+build.1', '+b']);
  return s;
}
function comparator() {
  if (chance(0.1)) return partial() + pick([' - ', ' -', '- ', '  -  ']) + partial();
  return pick(OPS) + (chance(0.1) ? pick(PREFIX) : '') + partial();
}
function range() {
  let s = comparator();
  const n = Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) s += pick([' ', '  ', '||', ' || ', ' && ', ',', '\t']) + comparator();
  if (chance(0.1)) s = pick(['', ' ', '||', '2.0.0 || ', 'Resin OS ', 'balenaOS ']) + s;
  if (chance(0.15)) s = mutate(s);
  return s;
}

const meta = (file) => ({ package: 'balena-semver@4.1.16', generator: 'benches/node/fuzz.js', file, seed: seedArg });
const write = (file, cases) =>
  fs.writeFileSync(path.join(outDir, `${file}.json`), JSON.stringify({ meta: meta(file), cases }));
fs.mkdirSync(outDir, { recursive: true });

const versions = [];
for (let i = 0; i < count; i++) versions.push(version());

write('fuzz-parse', versions.map((input) => {
  lastNormalized = undefined;
  const parse = bs.parse(input);
  const normalized = lastNormalized === undefined ? null : lastNormalized;
  const p = parse && { raw: parse.raw, major: parse.major, minor: parse.minor, patch: parse.patch,
    prerelease: parse.prerelease, build: parse.build, version: parse.version };
  return { input, normalized, valid: bs.valid(input), parse: p, prerelease: bs.prerelease(input),
    major: bs.major(input), revision: parse ? bs.getRevision(parse) : null };
}));

// Families: the same M.m.p in many spellings, to reach the revision,
// dev-flag and collation stages and to make ranges match.
const family = () => {
  const base = `${pick(['1', '2', '6'])}.${pick(['0', '1', '88'])}.${pick(['0', '4', '39'])}`;
  const out = [];
  for (let k = 0; k < 6; k++) {
    const opt = (list) => (chance(0.5) ? '' : pick(list));
    out.push(opt(PREFIX.slice(0, 16)) + base + opt(PRE) + opt(BUILD) + opt(SUFFIX));
  }
  return out;
};
const families = [];
for (let i = 0; i < count / 6; i++) families.push(...family());
const compare = [];
for (let i = 0; i < count; i++) {
  if (chance(0.5)) {
    const k = Math.floor(rand() * (families.length / 6)) * 6;
    const a = families[k + Math.floor(rand() * 6)];
    const b = families[k + Math.floor(rand() * 6)];
    bs.compare.clear();
    compare.push({ a, b, compare: bs.compare(a, b) });
    continue;
  }
  // Pairs of near neighbours exercise the later stages.
  const a = pick(versions);
  const b = chance(0.5) ? pick(versions) : mutate(a);
  bs.compare.clear();
  compare.push({ a, b, compare: bs.compare(a, b) });
}
write('fuzz-compare', compare);

const ranges = [];
for (let i = 0; i < count; i++) ranges.push(range());
write('fuzz-ranges', ranges.map((r) => {
  let normalized = null;
  // balena-semver's normaliser is internal; maxSatisfying applies it, and
  // semver.validRange of it is what `desugaredNormalized` records.
  let captured;
  const saved = semver.parse;
  semver.parse = (v, ...rest) => { captured = v; return origParse(v, ...rest); };
  bs.parse(r);
  semver.parse = saved;
  normalized = captured;
  return { range: r, normalized, desugared: semver.validRange(r, { loose: true }),
    desugaredNormalized: semver.validRange(normalized, { loose: true }) };
}));

const sat = [];
for (let i = 0; i < count; i++) {
  const version = chance(0.3) ? pick(versions) : chance(0.5) ? pick(families) : pick(['2.0.0', '1.2.3', '2.88.4+rev1.prod', '1.2.3-rc.1',
    '2.0.0-rc1.rev1', '0.0.1', '2019.04.0', '3.0.0-0', '6.0.39+rev1.dev', '1.2.4-alpha.1', '2.0.5', '10.0.0']);
  const r = pick(ranges);
  sat.push({ version, range: r, satisfies: bs.satisfies(version, r) });
}
write('fuzz-satisfies', sat);

const max = [];
for (let i = 0; i < Math.ceil(count / 10); i++) {
  const list = [];
  const n = 1 + Math.floor(rand() * 12);
  for (let k = 0; k < n; k++) list.push(chance(0.05) ? null : chance(0.7) ? pick(families) : pick(versions));
  const r = pick(ranges);
  bs.compare.clear();
  const result = bs.maxSatisfying(list, r);
  max.push({ range: r, list: 'fuzz', versions: list, result, index: result === null ? -1 : list.indexOf(result) });
}
write('fuzz-max-satisfying', max);

const RELEASES = ['major', 'premajor', 'minor', 'preminor', 'patch', 'prepatch', 'prerelease', 'release', 'pre', 'bogus', ''];
write('fuzz-inc', versions.map((input) => {
  const release = pick(RELEASES);
  return { input, release, result: bs.inc(input, release) };
}));
console.error(`wrote ${outDir}`);
