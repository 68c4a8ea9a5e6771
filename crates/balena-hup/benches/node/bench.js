// Baseline for `cargo bench -p balena-hup`: the same requests through
// balena-hup-action-utils@7.0.31 (and its balena-semver, whose compare is
// memoised). Prints nanoseconds per getHUPActionType call, with the memo
// cache warm (the way a long-running process sees it) and cleared before
// every pass over the cases.
const fs = require('fs');
const path = require('path');
const { HUPActionHelper } = require('balena-hup-action-utils');
const semver = require('balena-semver');

const vectors = process.argv[2] ||
	path.join(__dirname, '../../../../../shared/vectors/hup-7.0.31.json');
const cases = JSON.parse(fs.readFileSync(vectors, 'utf8')).cases;
const helper = new HUPActionHelper();

function pass() {
	let ok = 0;
	for (const c of cases) {
		try {
			helper.getHUPActionType(c.deviceType, c.current, c.target);
			ok++;
		} catch (e) {
			// refusals are answers too
		}
	}
	return ok;
}

function measure(label, passes, before) {
	let total = 0n;
	for (let i = 0; i < passes; i++) {
		if (before) before();
		const t0 = process.hrtime.bigint();
		pass();
		total += process.hrtime.bigint() - t0;
	}
	const perCall = Number(total) / (passes * cases.length);
	console.log(`${label}: ${perCall.toFixed(0)} ns per call (${cases.length} cases x ${passes} passes)`);
}

const clear = () => {
	for (const f of ['compare', 'rcompare', 'lt', 'lte', 'gt', 'gte', 'parse']) {
		if (semver[f] && typeof semver[f].clear === 'function') semver[f].clear();
	}
};
pass(); // JIT warm-up
measure('node warm memo', 20);
measure('node cleared memo each pass', 20, clear);
