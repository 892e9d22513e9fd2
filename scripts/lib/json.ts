// json owns a tool's machine-readable result: the --json FILE written (pretty, newline-terminated) and logged.

import { writeFile } from 'node:fs/promises';
import type { Log } from './log.js';

/** Writes `value` as JSON to `file` when one was asked for (--json FILE). */
export async function writeJson(file: string | undefined, value: unknown, log: Log): Promise<void> {
  if (!file) return;
  await writeFile(file, JSON.stringify(value, null, 2) + '\n');
  log(`wrote ${file}`);
}
