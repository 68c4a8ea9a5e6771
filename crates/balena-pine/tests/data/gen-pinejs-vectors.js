#!/usr/bin/env node
// Records what the real JavaScript libraries do, as test vectors for
// balena-pine: pinejs-client-core@8.5.40's compile() (options object -> URL
// path and query, as the WHATWG URL serialiser sends it) and balena-sdk@23.2.15's
// mergePineOptions.
//
//   mkdir /tmp/oracle && cd /tmp/oracle
//   npm install --ignore-scripts pinejs-client-core@8.5.40 balena-sdk@23.2.15
//   NODE_PATH=/tmp/oracle/node_modules node gen-pinejs-vectors.js > pinejs-vectors.json
//
// The output is deterministic (seeded generator).
'use strict';

const { PinejsClientCore } = require('pinejs-client-core');
const { mergePineOptions } = require('balena-sdk/es2017/util');

class Client extends PinejsClientCore {
	_request() {
		throw new Error('no requests');
	}
}
const client = new Client({ apiPrefix: '/v7/' });

function wire(resource, options) {
	const compiled = client.compile({ resource, options });
	const url = new URL('http://host/v7/' + compiled);
	return url.pathname + url.search;
}

// ---- seeded generator -------------------------------------------------------
let seed = 0x9e3779b9;
function rand() {
	// xorshift32
	seed ^= seed << 13;
	seed >>>= 0;
	seed ^= seed >>> 17;
	seed ^= seed << 5;
	seed >>>= 0;
	return seed / 0x100000000;
}
const int = (n) => Math.floor(rand() * n);
const pick = (list) => list[int(list.length)];

const FIELDS = ['slug', 'is_host', 'raw_version', 'variant', 'status', 'semver_major', 'id', 'created_at', 'tag_key', 'value'];
const NAVS = ['owns__release', 'release_tag', 'is_for__device_type', 'application_tag', 'belongs_to__application'];
const STRINGS = [
	'intel-nuc', "it's", "a''b", 'a/b c', '100%', 'x&y=z', 'plus+sign', 'tab\there', 'ünïcødé', '日本', '#hash',
	'(paren)', 'semi;colon', '', ' ', "'", '*~!.-_', 'balena_os/', '"double"', '<tag>', 'emoji 🚀', 'back\\slash',
];
const NUMBERS = [0, 1, -1, 42, 2024, 0.5, -2.25, 1e21, 1.5e-7, 123456789, 1e-6, 3.0];

function primitive() {
	switch (int(5)) {
		case 0:
		case 1:
			return pick(STRINGS);
		case 2:
			return pick(NUMBERS);
		case 3:
			return rand() < 0.5;
		default:
			return null;
	}
}

function fieldCondition(depth, alias) {
	const r = int(10);
	if (r < 3) return primitive();
	if (r < 5) return { [pick(['$eq', '$ne', '$gt', '$ge', '$lt', '$le'])]: primitive() };
	if (r < 6) return { $in: Array.from({ length: 1 + int(3) }, primitive) };
	if (r < 7) return { [pick(['$startswith', '$endswith', '$contains'])]: pick(STRINGS) };
	if (r < 8 && depth > 0) {
		const name = pick(['x', 'dt', 'a', 'c']);
		return { [pick(['$any', '$all'])]: { $alias: name, $expr: filter(depth - 1, name) } };
	}
	if (r < 9) return { $in: { $eq: primitive(), $gt: primitive() } };
	return { $ne: primitive() };
}

function filterEntry(depth, alias, obj) {
	const r = int(12);
	if (alias != null && r < 4) {
		// nested path through the lambda alias
		obj[alias] = { [pick(FIELDS)]: fieldCondition(depth, alias) };
	} else if (r < 7) {
		obj[pick(FIELDS)] = fieldCondition(depth, alias);
	} else if (r < 8 && depth > 0) {
		obj.$and = Array.from({ length: 2 + int(2) }, () => filter(depth - 1, alias));
	} else if (r < 9 && depth > 0) {
		obj.$or = Array.from({ length: 2 + int(2) }, () => filter(depth - 1, alias));
	} else if (r < 10 && depth > 0) {
		obj.$not = filter(depth - 1, alias);
	} else if (r < 11) {
		obj[pick(['$eq', '$gt', '$le'])] = [{ $: pick(FIELDS) }, primitive()];
	} else {
		obj.$or = { [pick(FIELDS)]: primitive(), [pick(FIELDS) + '_2']: primitive() };
	}
}

function filter(depth, alias) {
	if (depth > 0 && int(8) === 0) {
		return Array.from({ length: 2 + int(2) }, () => filter(depth - 1, alias));
	}
	const obj = {};
	const n = 1 + int(3);
	for (let i = 0; i < n; i++) filterEntry(depth, alias, obj);
	return obj;
}

function select() {
	const n = 1 + int(3);
	const list = Array.from({ length: n }, () => pick(FIELDS));
	return int(3) === 0 ? list.join(',') : int(8) === 0 ? '*' : list;
}

function orderby() {
	switch (int(4)) {
		case 0:
			return `${pick(FIELDS)} ${pick(['asc', 'desc'])}`;
		case 1:
			return { [pick(FIELDS)]: pick(['asc', 'desc']) };
		case 2:
			return [{ [pick(FIELDS)]: 'desc' }, `${pick(FIELDS)} asc`];
		default:
			return pick(FIELDS);
	}
}

function options(depth, top) {
	const o = {};
	const keys = ['$select', '$expand', '$filter', '$orderby', '$top', '$skip'];
	// random order of options
	for (let i = keys.length - 1; i > 0; i--) {
		const j = int(i + 1);
		[keys[i], keys[j]] = [keys[j], keys[i]];
	}
	for (const key of keys) {
		if (rand() < 0.45) continue;
		switch (key) {
			case '$select':
				o.$select = select();
				break;
			case '$expand':
				if (depth > 0) o.$expand = expand(depth - 1);
				break;
			case '$filter':
				o.$filter = filter(2);
				break;
			case '$orderby':
				o.$orderby = orderby();
				break;
			default:
				o[key] = int(100);
		}
	}
	if (top && rand() < 0.1) o.apikey = 'k' + int(1000);
	return o;
}

function expand(depth) {
	switch (int(4)) {
		case 0:
			return pick(NAVS);
		case 1:
			return [pick(NAVS), { [pick(NAVS)]: options(depth, false) }];
		case 2:
			return { [pick(NAVS)]: { $count: int(2) ? {} : { $filter: filter(1) } } };
		default: {
			const o = {};
			for (let i = 0; i < 1 + int(2); i++) o[pick(NAVS)] = options(depth, false);
			return o;
		}
	}
}

// ---- hand-written cases -----------------------------------------------------
const HANDWRITTEN = [
	{ $select: 'slug' },
	{ $select: ['id', 'raw_version', 'id'] },
	{ $select: '*' },
	{ $filter: { slug: "it's a/b c" } },
	{ $filter: { slug: { $in: ['a'] } } },
	{ $filter: { semver_major: { $in: [5, 2024] } } },
	{ $filter: { $or: [{ variant: 'dev' }, { phase: 'current' }], is_final: true } },
	{ $filter: { $and: [{ $and: [{ a: 1 }, { b: 2 }] }, { c: 3 }] } },
	{ $filter: { $or: [{ $and: [{ a: 1 }, { b: 2 }] }, { c: 3 }] } },
	{ $filter: { $and: [{ $or: [{ a: 1 }, { $and: [{ b: 2 }, { c: 3 }] }] }, { d: 4 }] } },
	{ $filter: [{ a: 1 }, { b: 2 }] },
	{ $filter: { a: [1, 2] } },
	{ $filter: { a: { $or: [1, 2] } } },
	{ $filter: { a: { $in: [{ $: 'b' }, 1] } } },
	{ $filter: { $eq: [{ $add: [{ $: 'a' }, 1] }, 3] } },
	{ $filter: { $eq: [{ a: 1 }, true] } },
	{ $filter: { a: { $eq: [{ $: 'b' }, 1] } } },
	{ $filter: { a: { $eq: { $: 'b' } } } },
	{ $filter: { $eq: [{ $tolower: { $: 'name' } }, 'x'] } },
	{ $filter: { a: { $tolower: { $: 'b' } } } },
	{ $filter: { $startswith: [{ $: 'slug' }, 'balena'] } },
	{ $filter: { $not: { a: 1 } } },
	{ $filter: { $not: [{ a: 1 }, { b: 2 }] } },
	{ $filter: { a: { $not: { b: 1 } } } },
	{ $filter: { $raw: 'a eq 1' } },
	{ $filter: { $or: [{ $raw: 'a eq 1 and b eq 2' }, { c: 1 }] } },
	{ $filter: { $raw: ['a eq $1 or b eq $2', 'x y', { c: 1 }] } },
	{ $filter: { $raw: { $string: 'a eq $p1', p1: 5 } } },
	{ $filter: { a: { $raw: 'b' } } },
	{ $filter: { $: 'is_host' } },
	{ $filter: { a: { $: ['b', 'c'] } } },
	{ $filter: { $eq: [{ owns__release: { $count: {} } }, 3] } },
	{ $filter: { $gt: [{ owns__release: { $count: { $filter: { is_final: true } } } }, 0] } },
	{ $filter: { device_type_alias: { $any: { $alias: 'dta', $expr: { dta: { is_referenced_by__alias: 'rpi3' } } } } } },
	{ $filter: { a: { $all: { $alias: 'x', $expr: { x: { b: { c: { $any: { $alias: 'y', $expr: { y: { d: 1 } } } } } } } } } } },
	{ $filter: { created_at: { $gt: 1.5e-7 } } },
	{ $filter: { n: 1e21 } },
	{ $filter: { n: -0.000001 } },
	{ $filter: { n: 123456789012 } },
	{ $expand: 'owns__release' },
	{ $expand: 'owns__release/$count' },
	{ $expand: ['a', 'b', { c: { $select: 'd' } }] },
	{ $expand: { a: {} } },
	{ $expand: { owns__release: { $count: { $filter: { is_final: true } } } } },
	{ $expand: { owns__release: { $select: 'id', $top: 3, $orderby: 'created_at desc', $expand: { release_tag: { $select: ['tag_key', 'value'] } } } } },
	{ $orderby: 'name asc' },
	{ $orderby: 'id' },
	{ $orderby: 'a desc,b' },
	{ $orderby: { name: 'asc' } },
	{ $orderby: [{ semver_major: 'desc' }, { semver_minor: 'desc' }] },
	{ $orderby: { owns__release: { $count: {} }, $dir: 'desc' } },
	{ $orderby: { owns__release: { $count: { $filter: { is_final: true } } }, $dir: 'asc' } },
	{ $top: 1, $skip: 20 },
	{ $count: {} },
	{ $count: { $filter: { a: 1 } } },
	{ apikey: 'abc', $select: 'slug' },
	{ custom: ['a', 'b'], flag: true, n: 5 },
	// errors in pinejs-client too
	{ $filter: { slug: { $in: [] } } },
	{ $filter: { a: { $foo: 1 } } },
	{ $filter: { a: { b: 1 } } },
	{ $filter: [{ a: 1 }] },
	{ $filter: { a: { $any: { $expr: { x: 1 } } } } },
	{ $filter: { a: { $any: { $alias: 'x' } } } },
	{ $select: [] },
	{ $expand: [] },
	{ $expand: { a: 'b' } },
	{ $expand: { a: ['b'] } },
	{ $expand: { $select: 'a' } },
	{ $expand: { a: { b: {} } } },
	{ $expand: { a: { $count: {}, $select: 'b' } } },
	{ $expand: { a: { $count: { $select: 'b' } } } },
	{ $orderby: [] },
	{ $orderby: { a: 'up' } },
	{ $orderby: { a: 'asc', b: 'desc' } },
	{ $orderby: 'a/$count' },
	{ $top: 'ten' },
	{ $foo: 1 },
	{ $count: {}, $select: 'a' },
];

// Forms pinejs-client compiles to a meaningless query; balena-pine refuses them.
const REFUSED = [
	{ $filter: { a: { $and: { $gt: 1, $lt: 5 } } } },
	{ $filter: { $and: {} } },
	{ $filter: { $in: [1, 2] } },
	{ $filter: { $eq: 5 } },
	{ $filter: { $eq: [1, 2, 3] } },
	{ $filter: { $startswith: 'x' } },
	{ $filter: { $any: { $alias: 'x', $expr: { x: 1 } } } },
	{ $filter: { $and: true } },
	{ $filter: { '@alias': 'x' } },
	{ $filter: { a: { $duration: { days: 1 } } } },
	{ $select: 'a,b/c' },
	{ $top: 1.5 },
	{ $top: -1 },
	{ '@p': 5 },
];

const compileCases = [];
for (const opts of HANDWRITTEN) {
	try {
		compileCases.push({ options: opts, url: wire('resource', opts) });
	} catch (e) {
		compileCases.push({ options: opts, error: e.message });
	}
}
for (let i = 0; i < 400; i++) {
	const opts = options(2, true);
	try {
		compileCases.push({ options: opts, url: wire('resource', opts) });
	} catch (e) {
		compileCases.push({ options: opts, error: e.message });
	}
}

// ---- mergePineOptions ---------------------------------------------------------
function mergeSide(depth) {
	const o = {};
	if (rand() < 0.6) o.$select = pick([pick(FIELDS), '*', [pick(FIELDS), pick(FIELDS)], ['*']]);
	if (rand() < 0.5) o.$filter = filter(1);
	if (rand() < 0.3) o.$top = int(10);
	if (rand() < 0.2) o.$skip = int(10);
	if (rand() < 0.3) o.$orderby = orderby();
	if (depth > 0 && rand() < 0.5) {
		o.$expand = pick([
			() => pick(NAVS),
			() => [pick(NAVS), { [pick(NAVS)]: mergeSide(depth - 1) }],
			() => ({ [pick(NAVS)]: mergeSide(depth - 1), [pick(NAVS)]: mergeSide(depth - 1) }),
		])();
	}
	if (rand() < 0.1) o.$count = {};
	if (rand() < 0.1) o.custom = 'x';
	return o;
}
const mergeCases = [
	{ defaults: { $select: 'id' }, extra: null },
	{ defaults: { $select: 'id' }, extra: {} },
	{ defaults: { $select: ['a'] }, extra: { $select: '*' } },
	{ defaults: { $select: '*' }, extra: { $select: ['a'] } },
	{ defaults: { $select: ['a'] }, extra: { $select: ['*'] } },
	{ defaults: {}, extra: { $select: 'a', $top: null } },
];
for (let i = 0; i < 200; i++) {
	mergeCases.push({ defaults: mergeSide(2), extra: rand() < 0.1 ? null : mergeSide(2) });
}
for (const c of mergeCases) {
	const defaults = JSON.parse(JSON.stringify(c.defaults));
	c.merged = mergePineOptions(defaults, c.extra == null ? undefined : JSON.parse(JSON.stringify(c.extra)));
}

// One case per line keeps diffs readable.
const lines = (list) => list.map((c) => '  ' + JSON.stringify(c)).join(',\n');
process.stdout.write(
	[
		'{',
		' "generated_by": "crates/balena-pine/tests/data/gen-pinejs-vectors.js",',
		' "packages": {"pinejs-client-core": "8.5.40", "balena-sdk": "23.2.15"},',
		` "node": ${JSON.stringify(process.version)},`,
		' "compile": [',
		lines(compileCases),
		' ],',
		' "refused_by_balena_pine": [',
		lines(REFUSED.map((options) => ({ options }))),
		' ],',
		' "merge": [',
		lines(mergeCases),
		' ]',
		'}',
		'',
	].join('\n'),
);
