// Times the official JavaScript SDK's getAllOsVersions end to end (request,
// JSON, OsVersion computation, sorting) against a running server.
//
//   node sdk-bench.js API_URL ITERATIONS DEVICE_TYPE...
//
// Pine options `{}` are passed so that the SDK's memoisation does not
// answer from memory. Prints {"iterations", "ms_per_call", "versions"}.
'use strict';

const { getSdk } = require('balena-sdk');

async function main() {
	const [apiUrl, n, ...deviceTypes] = process.argv.slice(2);
	const iterations = Number(n);
	const sdk = getSdk({ apiUrl, dataDirectory: false });
	let versions = 0;
	for (let i = 0; i < Math.min(20, iterations); i++) {
		await sdk.models.os.getAllOsVersions(deviceTypes, {});
	}
	const start = process.hrtime.bigint();
	for (let i = 0; i < iterations; i++) {
		const result = await sdk.models.os.getAllOsVersions(deviceTypes, {});
		versions = Object.values(result).reduce((acc, list) => acc + list.length, 0);
	}
	const ms = Number(process.hrtime.bigint() - start) / 1e6;
	process.stdout.write(JSON.stringify({ iterations, ms_per_call: ms / iterations, versions }));
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
