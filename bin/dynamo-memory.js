#!/usr/bin/env node
// The compiled CLI lives in dist/; `npm install` (prepare) or `npm run build` produces it.
import { main } from '../dist/lib/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
