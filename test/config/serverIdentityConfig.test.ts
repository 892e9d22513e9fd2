// Tests for the server-identity keys of config/schema.ts (shards[].user optional, users[].server_user / server_password):
// old configs keep their forced user, a verifier cannot log in as the client itself, the cache needs a shard user.
import t from 'tap';
import { ConfigError, parseConfig } from '../../config/loadConfig.js';

const VERIFIER = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';

function base(shardUser?: string): Record<string, any> {
  return {
    database: 'app',
    users: [{ name: 'app', password: 'app-secret' }],
    shards: [{ name: 's0', host: '127.0.0.1', database: 'app', ...(shardUser ? { user: shardUser } : {}) }],
  };
}

function issues(raw: unknown): string {
  try {
    parseConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return '';
}

t.test('shards[].user is optional; a forced user keeps its password default', async (t) => {
  t.equal(parseConfig(base()).shards[0]!.user, undefined);
  const forced = parseConfig(base('postgres')).shards[0]!;
  t.equal(forced.user, 'postgres');
  t.equal(forced.password, '');
});

t.test('a SCRAM verifier cannot log in to a shard without a forced user', async (t) => {
  const cfg = base();
  cfg.users = [{ name: 'app', password: VERIFIER }];
  t.match(issues(cfg), /users\[0\]\.password.*user "app".*verifier.*server_password/s, 'names the user and the fixes');
  t.equal(issues({ ...cfg, users: [{ name: 'app', password: VERIFIER, server_password: 'plain' }] }), '', 'server_password fixes it');
  t.equal(issues({ ...cfg, users: [{ name: 'app', password: VERIFIER, server_user: 'other' }] }), '', 'so does server_user');
  t.equal(issues({ ...base('postgres'), users: cfg.users }), '', 'a forced shard user needs no client password');
});

t.test('the result cache needs shards[].user', async (t) => {
  t.match(issues({ ...base(), cache: { enabled: true } }), /shards\[0\]\.user.*shards\[\]\.user is required/s);
  t.equal(issues({ ...base('postgres'), cache: { enabled: true } }), '');
});
