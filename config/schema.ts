// schema owns the configuration: one zod schema gives both the Config type and its validation.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const durationMs = z.number().int().min(0);

export const ShardSchema = z.strictObject({
  name: z.string().min(1),
  host: z.string().min(1),
  port: port.default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  password: z.string().default(''),
});

/** A user needs a password unless it authenticates by trust (its own `auth`, else `auth.method`): checked on ConfigSchema. */
export const UserSchema = z.strictObject({
  name: z.string().min(1),
  /** plaintext password, or a SCRAM verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` */
  password: z.string().optional(),
  /** how this user authenticates to Prescient; default from `auth.method` */
  auth: z.enum(['scram-sha-256', 'md5', 'trust']).optional(),
});

export const PoolMode = { Session: 'session', Transaction: 'transaction' } as const;
export type PoolMode = (typeof PoolMode)[keyof typeof PoolMode];

export const ConfigSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(6432),
      /** largest frontend message accepted, in bytes (Postgres' own limit is 1 GiB) */
      max_message_size: z.number().int().min(1024).default(64 * 1024 * 1024),
      /** largest startup packet accepted, in bytes (Postgres uses 10000) */
      max_startup_packet: z.number().int().min(64).max(1 << 20).default(10000),
      max_client_connections: z.number().int().min(1).default(1000),
      tls: z
        .strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().optional() })
        .optional(),
    })
    .prefault({}),
  /** the database name clients connect to */
  database: z.string().min(1),
  users: z.array(UserSchema).min(1),
  auth: z
    .strictObject({ method: z.enum(['scram-sha-256', 'md5', 'trust']).default('scram-sha-256') })
    .prefault({}),
  shards: z.array(ShardSchema).min(1),
  pool: z
    .strictObject({
      mode: z.enum(['transaction', 'session']).default('transaction'),
      /** server connections per shard */
      size: z.number().int().min(1).default(20),
      /** how long a request may wait for a server connection before it gets an error */
      queue_timeout_ms: durationMs.default(5000),
      /** an idle server connection is closed after this long */
      idle_timeout_ms: durationMs.default(60000),
      /** how long to wait for a server connection to be established */
      connect_timeout_ms: durationMs.default(5000),
      /** run on a server connection when a session-mode client leaves ('' for none) */
      reset_query: z.string().default('DISCARD ALL'),
      /** run on the shared server connection when any client leaves (for single-session backends such as PGlite) */
      reset_on_every_client: z.boolean().default(false),
    })
    .prefault({}),
  shutdown: z.strictObject({ timeout_ms: durationMs.default(30000) }).prefault({}),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') }).prefault({}),
}).superRefine((c, ctx) => {
  c.users.forEach((u, i) => {
    if (u.password === undefined && (u.auth ?? c.auth.method) !== 'trust') {
      ctx.addIssue({ code: 'custom', message: 'a password (or SCRAM verifier) is required unless auth is trust', path: ['users', i, 'password'] });
    }
  });
});

export type Config = z.infer<typeof ConfigSchema>;
export type ShardConfig = z.infer<typeof ShardSchema>;
export type UserConfig = z.infer<typeof UserSchema>;
