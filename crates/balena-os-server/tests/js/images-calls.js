// Runs the official balena JavaScript SDK's image calls (os.download,
// os.getConfig, os.getDownloadSize) against a server and prints their
// results as one JSON object (input and output: harness.js). Downloads are
// summarised by their SHA-256.
//
//   node images-calls.js API_URL API_KEY < calls.json
//
// A download's result: {"mime", "bytes", "sha256", "lastProgress"}.
'use strict';

const crypto = require('crypto');
const { main } = require('./harness');

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

main(async (method, result) => (method === 'download' ? summarise(result) : result));
