// Runs calls of the official balena JavaScript SDK against a server and
// prints their results as one JSON object (input and output: harness.js).
//
//   node sdk-calls.js API_URL API_KEY < calls.json
'use strict';

require('./harness').main();
