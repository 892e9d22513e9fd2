// version owns Prescient's version (package.json's), for `prescient --version` and SHOW VERSION.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    // dist/proxy/version.js and proxy/version.ts both sit two folders below the package root
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Prescient's version, as package.json gives it ('unknown' where package.json is missing). */
export const version: string = readVersion();
