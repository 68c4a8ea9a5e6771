// What sdk-calls.js and images-calls.js share: read a list of calls (JSON
// on stdin), make two official SDKs against API_URL (anonymous, and logged
// in with API_KEY), run each call on the one it names, and print all
// results as one JSON object keyed by call name.
//
//   node SCRIPT API_URL API_KEY < calls.json
//
// calls.json: [{"name": "...", "auth": "key" | "none", "method": "os.getAllOsVersions", "args": [...]}]
// Output: {"<name>": {"result": ...} | {"error": {"name", "code", "message", "statusCode"}}, ...}
// `undefined` results are reported as {"undefined": true}.
'use strict';

const { getSdk } = require('balena-sdk');

async function readStdin() {
	let input = '';
	for await (const chunk of process.stdin) {
		input += chunk;
	}
	return input;
}

// Runs the calls; `present(method, result)` turns a result into what is
// printed (for results JSON cannot carry, such as streams).
async function runCalls(present) {
	const [apiUrl, apiKey] = process.argv.slice(2);
	const calls = JSON.parse(await readStdin());
	const sdks = {
		none: getSdk({ apiUrl, dataDirectory: false }),
		key: getSdk({ apiUrl, dataDirectory: false }),
	};
	await sdks.key.auth.loginWithToken(apiKey);
	const out = {};
	for (const call of calls) {
		const sdk = sdks[call.auth || 'none'];
		const [model, method] = call.method.split('.');
		const fn = sdk.models[model][method].bind(sdk.models[model]);
		try {
			const result = await present(method, await fn(...(call.args || [])));
			out[call.name] = result === undefined ? { undefined: true } : { result };
		} catch (e) {
			out[call.name] = {
				error: { name: e.name, code: e.code, message: e.message, statusCode: e.statusCode },
			};
		}
	}
	process.stdout.write(JSON.stringify(out));
}

// The script's entry point: runs the calls, exits 1 on a failure outside
// any call (bad input, no server).
function main(present = async (_method, result) => result) {
	runCalls(present).catch((e) => {
		console.error(e);
		process.exit(1);
	});
}

module.exports = { main };
