// architecture-files prints the table of every file of proxy/ with its one-line job (each file's first line), for docs/architecture.md.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every .ts file under `dir`, sorted, as repo-relative paths. */
export function sourceFiles(root: string, dir = 'proxy'): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out;
}

/** A file's one-line job: its first line without the comment marker. */
export function jobOf(root: string, file: string): string {
  const first = readFileSync(join(root, file), 'utf8').split('\n', 1)[0] ?? '';
  return first.replace(/^\/\/\s*/, '').trim();
}

/** The markdown table: | `file` | its job |. */
export function architectureTable(root: string): string {
  const rows = sourceFiles(root).map((f) => `| \`${f}\` | ${jobOf(root, f).replace(/\|/g, '\\|')} |`);
  return ['| file | its one job |', '| --- | --- |', ...rows].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(architectureTable(process.cwd().replace(/\/dist$/, '')) + '\n');
}
