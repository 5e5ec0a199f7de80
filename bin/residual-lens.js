#!/usr/bin/env node
// Thin launcher: the CLI is bundled to dist/cli.js by `npm run build` (run by npm install's prepare).
require('../dist/cli.js');
