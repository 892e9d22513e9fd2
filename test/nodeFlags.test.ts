// Owns: checking that every way of launching Prescient (bin, npm start, Docker) uses the same Node flags (proxy/nodeFlags.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../proxy/nodeFlags.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const flags = NODE_FLAGS.join(' ');

const launchers: [string, string][] = [
  ['the bin (shebang of proxy/cli.ts)', read('proxy/cli.ts').split('\n')[0]!],
  ['npm start', (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start!],
  ['the Docker ENTRYPOINT', read('Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'))!.replace(/", "/g, ' ')],
];
for (const [name, line] of launchers) t.ok(line.includes(flags), `${name} runs node with ${flags}: ${line}`);
