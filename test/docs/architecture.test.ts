// Owns: docs/architecture.md stays true to the code: every file of proxy/ is listed with the one-line job its first line states.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { jobOf, sourceFiles } from '../../scripts/architecture-files.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const page = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');

t.test('every file of proxy/ is on the architecture page, with its first line', async (t) => {
  const files = sourceFiles(root);
  t.ok(files.length > 40, `${files.length} files`);
  for (const f of files) {
    const job = jobOf(root, f);
    t.ok(job.length > 20 && !job.startsWith('import'), `${f} opens with one line that says what it owns`);
    t.ok(page.includes(`| \`${f}\` | ${job.replace(/\|/g, '\\|')} |`), `${f} is listed with its job (regenerate: node dist/scripts/architecture-files.js)`);
  }
  for (const m of page.matchAll(/^\| `(proxy\/[^`]+)` \|/gm)) t.ok(files.includes(m[1]!), `${m[1]} on the page still exists`);
});
