/**
 * Runs one benchmark: `npm run bench -- <name> [args]`. Each bench/<name>.ts exports
 * `run(args: string[]): Promise<void>` and prints ratios against a baseline measured in the same
 * run; none of them gates CI.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.js') && file !== 'run.js' && !file.startsWith('support'))
  .map((file) => file.slice(0, -3));

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [args]\n`);
  process.exit(3);
}
const module = (await import(`./${name}.js`)) as { run(args: string[]): Promise<void> };
await module.run(args);
