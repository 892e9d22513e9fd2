// Owns: tests of config/configPath.ts — which config file a command runs with, and the source it names for the log.
import t from 'tap';
import { configPath } from '../../config/configPath.js';

const present = (p: string): boolean => p === '/etc/prescient/prescient.yaml';
const cases: { name: string; options: { config?: string; configIfExists?: string }; env: NodeJS.ProcessEnv; path: string | undefined; source: string }[] = [
  { name: '--config wins', options: { config: 'a.yaml', configIfExists: '/etc/prescient/prescient.yaml' }, env: { PRESCIENT_CONFIG: 'b.yaml' }, path: 'a.yaml', source: '--config' },
  { name: 'PRESCIENT_CONFIG before --config-if-exists', options: { configIfExists: '/etc/prescient/prescient.yaml' }, env: { PRESCIENT_CONFIG: 'b.yaml' }, path: 'b.yaml', source: 'PRESCIENT_CONFIG' },
  { name: '--config-if-exists, the file exists', options: { configIfExists: '/etc/prescient/prescient.yaml' }, env: {}, path: '/etc/prescient/prescient.yaml', source: '--config-if-exists' },
  { name: '--config-if-exists, no file', options: { configIfExists: '/nowhere.yaml' }, env: {}, path: undefined, source: 'embedded default (/nowhere.yaml does not exist)' },
  { name: 'nothing given', options: {}, env: {}, path: undefined, source: 'embedded default (no --config)' },
  { name: 'an empty PRESCIENT_CONFIG is not a file', options: {}, env: { PRESCIENT_CONFIG: '' }, path: undefined, source: 'embedded default (no --config)' },
];
for (const c of cases) {
  const got = configPath(c.options, c.env, present);
  t.same(got, { path: c.path, source: c.source }, c.name);
}
