// Runs calls of the official balena JavaScript SDK against a server and
// prints their results as one JSON object.
//
//   node sdk-calls.js API_URL API_KEY < calls.json
//
// calls.json: [{"name": "...", "auth": "key" | "none", "method": "os.getAllOsVersions", "args": [...]}]
// Output: {"<name>": {"result": ...} | {"error": {"name", "code", "message"}}, ...}
// `undefined` results are reported as {"undefined": true}.
'use strict';

const { getSdk } = require('balena-sdk');

async function main() {
	const [apiUrl, apiKey] = process.argv.slice(2);
	let input = '';
	for await (const chunk of process.stdin) {
		input += chunk;
	}
	const calls = JSON.parse(input);
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
			const result = await fn(...(call.args || []));
			out[call.name] = result === undefined ? { undefined: true } : { result };
		} catch (e) {
			out[call.name] = {
				error: { name: e.name, code: e.code, message: e.message, statusCode: e.statusCode },
			};
		}
	}
	process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
