// schema owns the configuration: one zod schema gives both the Config type and its validation.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const durationMs = z.number().int().min(0);

export const ShardSchema = z.strictObject({
  name: z.string().min(1),
  host: z.string().min(1),
  port: port.default(5432),
  database: z.string().min(1),
  /**
   * a forced server user: every client logs in to this shard as this user (PgBouncer's forced user). Omitted: each client
   * logs in as its own user name (or its users[].server_user). Precedence: docs/server-identity.md.
   */
  user: z.string().min(1).optional(),
  /** the password of `user` */
  password: z.string().default(''),
});

/** A user needs a password unless it authenticates by trust (its own `auth`, else `auth.method`): checked on ConfigSchema. */
export const UserSchema = z.strictObject({
  name: z.string().min(1),
  /** plaintext password, or a SCRAM verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` */
  password: z.string().optional(),
  /** how this user authenticates to Prescient; default from `auth.method` */
  auth: z.enum(['scram-sha-256', 'md5', 'trust']).optional(),
  /** the user this client logs in to every shard as, over a shard's forced `user` (docs/server-identity.md) */
  server_user: z.string().min(1).optional(),
  /** the password Prescient logs in to the servers with for this client: for server_user, else for its own name */
  server_password: z.string().optional(),
});

/** An admin-console user (connects to the database `prescient`); never a data-path user. */
export const AdminUserSchema = z.strictObject({
  name: z.string().min(1),
  /** plaintext password, or a SCRAM verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`; required unless auth is trust */
  password: z.string().min(1).optional(),
  /** how this admin authenticates; default from `auth.method` */
  auth: z.enum(['scram-sha-256', 'md5', 'trust']).optional(),
});

/** A stored password verifier (SCRAM-SHA-256$… or md5 + 32 hex digits) rather than a plaintext password. */
export function isPasswordVerifier(password: string): boolean {
  return password.startsWith('SCRAM-SHA-256$') || /^md5[0-9a-f]{32}$/.test(password);
}

/** What a statement with no derivable shard key does (DESIGN.md §3). */
export const NoKeyReads = { Fanout: 'fanout', Global: 'global', Reject: 'reject' } as const;
export type NoKeyReads = (typeof NoKeyReads)[keyof typeof NoKeyReads];
export const NoKeyWrites = { Reject: 'reject', Global: 'global' } as const;
export type NoKeyWrites = (typeof NoKeyWrites)[keyof typeof NoKeyWrites];

/** A colocation group: the tables whose rows live together and the actions that touch them. */
export const DomainSchema = z.strictObject({
  tables: z.array(z.string().min(1)).default([]),
  actions: z.array(z.string().min(1)).default([]),
});

export const ShardingSchema = z.strictObject({
  /** default column holding the account id */
  account_column: z.string().min(1).default('account_id'),
  /** per-table overrides */
  tables: z.record(z.string().min(1), z.strictObject({ account_column: z.string().min(1).optional() })).default({}),
  /** colocation groups: domain name → its tables and actions */
  domains: z.record(z.string().min(1), DomainSchema).default({}),
  /** unsharded tables, served by the global shard */
  global_tables: z.array(z.string().min(1)).default([]),
  /** the shard holding global tables; default: the first shard (filled in by ConfigSchema) */
  global_shard: z.string().min(1).optional(),
  no_key: z
    .strictObject({
      reads: z.enum(['fanout', 'global', 'reject']).default('fanout'),
      writes: z.enum(['reject', 'global']).default('reject'),
    })
    .prefault({}),
  /** true: refuse every statement without a key */
  strict: z.boolean().default(false),
  /** the action of a statement without an action tag or SET prescient.action: statement kind × table → action */
  action_rules: z
    .array(z.strictObject({ kind: z.enum(['select', 'insert', 'update', 'delete', 'copy']), table: z.string().min(1), action: z.string().min(1) }))
    .default([]),
  /** the plugins that derive the shard key, run before the config's `plugins` (replace or empty the list to use your own) */
  key_plugins: z.array(z.string().min(1)).default(['sqlcommenter', 'column-rules']),
});

/** Where the catalog (metadata service) lives: exactly one of a SQLite file `path` or a Postgres `url`. */
export const CatalogSchema = z
  .strictObject({
    path: z.string().min(1).optional(),
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.path === undefined) === (c.url === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of path or url is required', path: [] });
    }
  });

/** The version-checked result cache (the built-in `result-cache` plugin, DESIGN.md §5). */
export const CacheSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** total bytes of cached responses (LRU beyond it) */
  max_bytes: z.number().int().positive().default(64_000_000),
  /** a response larger than this is not cached */
  max_entry_bytes: z.number().int().positive().default(1_000_000),
  /** a backstop: entries older than this are dropped even if still current (0 = no TTL) */
  ttl_ms: z.number().int().nonnegative().default(0),
  /** cacheable tables (every table a statement reads must be listed); empty = every table of sharding.domains */
  tables: z.array(z.string().min(1)).default([]),
  /** cacheable actions (from the action tag / SET prescient.action / rules); empty = any action, or none given */
  actions: z.array(z.string().min(1)).default([]),
  /** predictive prefetch (docs/prediction.md): the reads of each account's likely next action, cached before it asks */
  prefetch: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** a model file of `prescient train`; absent: a first-order Markov model learned online from the actions seen */
      model: z.string().min(1).optional(),
      /** an action at least this probable has its reads prefetched */
      threshold: z.number().min(0).max(1).default(0.3),
      /** predicted actions considered after each action */
      top: z.number().int().min(1).default(3),
      /** prefetch reads running at once (each on an idle server connection no client waits for) */
      max_concurrency: z.number().int().min(1).default(2),
      /** a prediction not prefetched within this long is dropped */
      deadline_ms: z.number().int().min(1).default(1000),
      /** weight of an action's prefetches in the queue (default 1): priority = probability × backend time saved × this */
      criticality: z.record(z.string(), z.number().min(0)).default({}),
      /** online_model forest: trained again from the latest actions this often (markov1 is updated at every action) */
      retrain_s: z.number().int().min(1).default(10),
      /** without a model file: the kind learned online — markov1 (updated at each action, 0.2 µs) or forest (in a worker thread) */
      online_model: z.enum(['markov1', 'forest']).default('markov1'),
    })
    .prefault({}),
});

/** A plugin: a built-in one by `name`, or a user module by `module` path (relative to the config file). */
export const PluginEntrySchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    module: z.string().min(1).optional(),
    options: z.unknown().optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.name === undefined) === (p.module === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'exactly one of name (built-in plugin) or module (path) is required', path: [] });
    }
  });

/** The shard manager (docs/shard-manager.md): load on a rolling window, hot keys. */
export const ShardManagerSchema = z.strictObject({
  /** count load per shard and key (SHOW LOAD, SHOW HOTSPOTS) */
  enabled: z.boolean().default(false),
  /** seconds the rolling window of load covers (per-second buckets) */
  window: z.number().int().min(1).max(3600).default(60),
  /** seconds of the latest load the planner weighs and SHOW HOTSPOTS ranks by (the window's last `recent` seconds) */
  recent: z.number().int().min(1).max(3600).default(10),
  /** counters per second for the heaviest placement keys, and as many for account_action keys (Space-Saving) */
  heavy_hitters: z.number().int().min(8).max(100_000).default(128),
  /** peak-to-mean shard load (requests over the window) above which the shards are out of balance */
  imbalance: z.number().min(1).default(1.25),
  /** seconds an imbalance must last before the planner moves anything */
  sustain: z.number().int().min(0).default(10),
  max_concurrent_moves: z.number().int().min(1).default(2),
  max_moves_per_hour: z.number().int().min(1).default(60),
  /** seconds a moved key stays where it is (nothing flaps) */
  cooldown: z.number().int().min(0).default(300),
  /** how long a move waits for the requests and transactions using its key; then the move is aborted, not them */
  fence_timeout_ms: z.number().int().min(1).default(5000),
  /** a move begins once the source's transactions older than it have ended (their snapshots cannot see its change capture): how long it waits for them, then it is aborted */
  capture_timeout_ms: z.number().int().min(1).default(30_000),
  /** before the fence: catch-up rounds go on until one finds at most this many changed rows of the key (or 10 rounds) */
  catchup_rows: z.number().int().min(0).default(100),
  /** after the flip, how long the key's old rows stay on the source before they are deleted (0: at once) */
  cleanup_grace_ms: z.number().int().min(0).default(0),
  /** false: the planner only plans (SHOW PLAN), nothing moves on its own; RELOAD switches it either way */
  moves: z.boolean().default(true),
});

/** The action log: one line per action an account ran through the proxy (proxy/prediction/ActionLogStore.ts). */
export const ActionLogSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** folder of the NDJSON segments (relative: to the config file's folder) */
  dir: z.string().min(1).default('action-log'),
  /** a segment is closed and a new one begun at this size */
  segment_bytes: z.number().int().min(4096).default(16 * 1024 * 1024),
  /** segments kept (the oldest go): the store holds at most segments × segment_bytes */
  segments: z.number().int().min(1).default(8),
  /** how often buffered lines are written (off the request path) */
  flush_ms: z.number().int().min(10).default(200),
});

/** Where spans go: an OTLP/HTTP collector, or a file of NDJSON lines (tests, air-gapped debugging). */
export const TraceExporter = { Otlp: 'otlp', File: 'file' } as const;
export type TraceExporter = (typeof TraceExporter)[keyof typeof TraceExporter];

/** OpenTelemetry tracing: a span per client transaction, a child per server round trip (docs/tracing.md). */
export const TracingSchema = z
  .strictObject({
    /** off: the request path creates no span at all (one boolean check) */
    enabled: z.boolean().default(false),
    /** share of transactions traced when no application traceparent decides (0..1); a sampled traceparent is always followed */
    sample_ratio: z.number().min(0).max(1).default(0.01),
    exporter: z.enum([TraceExporter.Otlp, TraceExporter.File]).default(TraceExporter.Otlp),
    /**
     * OTLP/HTTP (JSON) URL spans are POSTed to; unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
     * OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else http://127.0.0.1:4318/v1/traces
     */
    endpoint: z.url().optional(),
    /** exporter `file`: the NDJSON file spans are appended to (relative: to the config file's folder) */
    file: z.string().min(1).default('spans.ndjson'),
    /** the resource's service.name */
    service_name: z.string().min(1).default('prescient'),
    /** spans waiting for export; beyond it new spans are dropped (the SDK's 2048 dropped 93 % of a burst) */
    max_queue_size: z.number().int().min(1).default(65536),
    /** spans per export request (at most max_queue_size); a full batch is sent at once: smaller batches die young (less GC) */
    max_export_batch_size: z.number().int().min(1).default(512),
    /** the longest a span waits in the queue before an export */
    schedule_delay_ms: z.number().int().min(1).default(1000),
    /** an export that has not finished after this long is abandoned */
    export_timeout_ms: z.number().int().min(1).default(10000),
  })
  .refine((t) => t.max_export_batch_size <= t.max_queue_size, { message: 'max_export_batch_size must not exceed max_queue_size', path: ['max_export_batch_size'] });

/** Telemetry: OpenTelemetry traces (metrics are served on the HTTP listener: `http`). */
export const TelemetrySchema = z.strictObject({
  tracing: TracingSchema.prefault({}),
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
      /** largest startup packet accepted, in bytes after its length word (Postgres' MAX_STARTUP_PACKET_LENGTH, 10000) */
      max_startup_packet: z.number().int().min(64).max(1 << 20).default(10000),
      /** client connections, authenticated or not (one more gets FATAL 53300 and is closed at once) */
      max_client_connections: z.number().int().min(1).default(1000),
      /** from accept until the StartupMessage is complete; then the connection is closed (Postgres: authentication_timeout) */
      startup_timeout_ms: z.number().int().min(1).default(60000),
      /** from the StartupMessage until authentication finished; then the connection is closed (Postgres: authentication_timeout) */
      auth_timeout_ms: z.number().int().min(1).default(60000),
      tls: z
        .strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().optional() })
        .optional(),
    })
    .prefault({}),
  /** the HTTP listener: /metrics (Prometheus), /healthz, /readyz and the dashboard (docs/operations.md) */
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      /** 0: any free port (tests) */
      port: port.default(9930),
    })
    .prefault({}),
  /** the database name clients connect to */
  database: z.string().min(1),
  users: z.array(UserSchema).min(1),
  auth: z
    .strictObject({
      method: z.enum(['scram-sha-256', 'md5', 'trust']).default('scram-sha-256'),
      /** failed logins from one address within failure_window_ms before its further failures are answered late */
      failure_limit: z.number().int().min(0).default(10),
      failure_window_ms: z.number().int().min(1).default(60000),
      /** how late a throttled address hears of a failed login (0: not at all); a right password is never delayed */
      failure_delay_ms: durationMs.default(1000),
    })
    .prefault({}),
  shards: z.array(ShardSchema).min(1),
  pool: z
    .strictObject({
      mode: z.enum(['transaction', 'session']).default('transaction'),
      /** server connections per (shard, server user) pool, as PgBouncer's default_pool_size (docs/server-identity.md) */
      size: z.number().int().min(1).default(20),
      /** how long a request may wait for a server connection before it gets an error */
      queue_timeout_ms: durationMs.default(5000),
      /** an idle server connection is closed after this long */
      idle_timeout_ms: durationMs.default(60000),
      /** how long to wait for a server connection to be established */
      connect_timeout_ms: durationMs.default(5000),
      /** run on a server connection when a session-mode client leaves ('' for none) */
      reset_query: z.string().default('DISCARD ALL'),
      /** a reset (reset_query) that has not finished after this long closes the server connection; the pool opens another */
      reset_timeout_ms: durationMs.default(5000),
      /** prepared statements Prescient keeps on one server connection (PgBouncer's max_prepared_statements); beyond
       * it the least recently used is closed there (prepared again where next used). 0: no limit */
      max_prepared_statements: z.number().int().min(0).default(200),
      /** run on the shared server connection when any client leaves (for single-session backends such as PGlite) */
      reset_on_every_client: z.boolean().default(false),
      /**
       * transaction mode: single autocommit statements (simple Query) of different clients share a server connection,
       * up to this many in flight on it, several in one write (docs/pipelining.md). 1: off (each request has its own)
       */
      pipeline: z.number().int().min(1).max(1024).default(1),
    })
    .prefault({}),
  /**
   * event loops: N > 1 runs N worker processes sharing the listen port (node:cluster), each with 1/N of pool.size and of
   * listen.max_client_connections, so the budgets stay those configured (docs/workers.md). Not with the embedded database.
   */
  workers: z.number().int().min(1).max(64).default(1),
  shutdown: z.strictObject({ timeout_ms: durationMs.default(30000) }).prefault({}),
  log: z
    .strictObject({
      /** debug, info, warn or error; the environment's PRESCIENT_LOG_LEVEL wins over it */
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      /** the statement's text in query-error and slow-request lines (off: it may carry data) */
      statements: z.boolean().default(false),
      /** a request (until its ReadyForQuery) taking at least this long is logged as slow; 0: off */
      slow_ms: z.number().int().min(0).default(0),
    })
    .prefault({}),
  admin: z.strictObject({ users: z.array(AdminUserSchema).default([]) }).prefault({}),
  sharding: ShardingSchema.prefault({}),
  catalog: CatalogSchema.default({ path: 'prescient.db' }),
  plugins: z.array(PluginEntrySchema).default([]),
  cache: CacheSchema.prefault({}),
  shard_manager: ShardManagerSchema.prefault({}),
  action_log: ActionLogSchema.prefault({}),
  telemetry: TelemetrySchema.prefault({}),
}).superRefine((c, ctx) => {
  c.users.forEach((u, i) => {
    if (u.password === undefined && (u.auth ?? c.auth.method) !== 'trust') {
      ctx.addIssue({ code: 'custom', message: 'a password (or SCRAM verifier) is required unless auth is trust', path: ['users', i, 'password'] });
    }
  });
  // a shard without a forced user: clients log in to it as themselves, so Prescient needs a password it can send
  const unforced = c.shards.filter((sh) => sh.user === undefined).map((sh) => sh.name);
  if (unforced.length > 0) {
    c.users.forEach((u, i) => {
      if (u.server_user === undefined && u.server_password === undefined && u.password !== undefined && isPasswordVerifier(u.password)) {
        ctx.addIssue({
          code: 'custom',
          message: `user "${u.name}" logs in to shard(s) ${unforced.join(', ')} (no shards[].user) as itself, but its password is a verifier, which cannot log in to a server: give users[].server_password (plaintext), a plaintext password, or shards[].user`,
          path: ['users', i, 'password'],
        });
      }
    });
    if (c.cache.enabled) {
      ctx.addIssue({
        code: 'custom',
        message: `the result cache (cache.enabled) installs triggers and listens for versions on every shard as the shard's own user: shards[].user is required (missing on ${unforced.join(', ')})`,
        path: ['shards', c.shards.findIndex((sh) => sh.user === undefined), 'user'],
      });
    }
  }
  c.admin.users.forEach((u, i) => {
    if (u.password === undefined && (u.auth ?? c.auth.method) !== 'trust') {
      ctx.addIssue({ code: 'custom', message: 'a password (or SCRAM verifier) is required unless auth is trust', path: ['admin', 'users', i, 'password'] });
    }
  });
  const s = c.sharding;
  // every table and every action belongs to at most one domain
  for (const field of ['tables', 'actions'] as const) {
    const owner = new Map<string, string>();
    for (const [domain, d] of Object.entries(s.domains)) {
      d[field].forEach((item, i) => {
        const first = owner.get(item);
        if (first === undefined) owner.set(item, domain);
        else if (first !== domain) {
          const what = field === 'tables' ? 'table' : 'action';
          ctx.addIssue({
            code: 'custom',
            message: `${what} "${item}" is in two domains: "${first}" and "${domain}"`,
            path: ['sharding', 'domains', domain, field, i],
          });
        }
      });
    }
  }
  const domainOfTable = new Map<string, string>();
  for (const [domain, d] of Object.entries(s.domains)) for (const tbl of d.tables) if (!domainOfTable.has(tbl)) domainOfTable.set(tbl, domain);
  s.global_tables.forEach((tbl, i) => {
    const domain = domainOfTable.get(tbl);
    if (domain !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `table "${tbl}" is both global and in domain "${domain}"`,
        path: ['sharding', 'global_tables', i],
      });
    }
  });
  if (s.global_shard !== undefined && !c.shards.some((sh) => sh.name === s.global_shard)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${s.global_shard}" is not a configured shard (shards: ${c.shards.map((sh) => sh.name).join(', ')})`,
      path: ['sharding', 'global_shard'],
    });
  }
}).transform((c) => ({
  ...c,
  // global_shard defaults to the first shard
  sharding: { ...c.sharding, global_shard: c.sharding.global_shard ?? c.shards[0]!.name },
}));

export type Config = z.infer<typeof ConfigSchema>;
export type ShardConfig = z.infer<typeof ShardSchema>;
export type UserConfig = z.infer<typeof UserSchema>;
export type AdminUserConfig = z.infer<typeof AdminUserSchema>;
export type ShardingConfig = Config['sharding'];
export type DomainConfig = z.infer<typeof DomainSchema>;
export type CatalogConfig = z.infer<typeof CatalogSchema>;
export type PluginEntryConfig = z.infer<typeof PluginEntrySchema>;
export type CacheConfig = z.infer<typeof CacheSchema>;
export type TracingConfig = Config['telemetry']['tracing'];
