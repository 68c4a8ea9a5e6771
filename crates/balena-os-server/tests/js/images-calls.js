// Runs the official balena JavaScript SDK's image calls (os.download,
// os.getConfig, os.getDownloadSize) against a server and prints their
// results as one JSON object. Downloads are summarised by their SHA-256.
//
//   node images-calls.js API_URL API_KEY < calls.json
//
// calls.json: [{"name": "...", "auth": "key" | "none", "method": "os.download", "args": [...]}]
// Output: {"<name>": {"result": ...} | {"error": {"name", "code", "message", "statusCode"}}, ...}
// A download's result: {"mime", "bytes", "sha256", "lastProgress"}.
'use strict';

const crypto = require('crypto');
const { getSdk } = require('balena-sdk');

async function summarise(stream) {
	const hash = crypto.createHash('sha256');
	let bytes = 0;
	let lastProgress = null;
	stream.on('progress', (p) => {
		lastProgress = p === undefined ? null : { total: p.total, received: p.received };
	});
	for await (const chunk of stream) {
		hash.update(chunk);
		bytes += chunk.length;
	}
	return { mime: stream.mime, bytes, sha256: hash.digest('hex'), lastProgress };
}

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
			let result = await fn(...(call.args || []));
			if (method === 'download') {
				result = await summarise(result);
			}
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
