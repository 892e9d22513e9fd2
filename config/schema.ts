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
      /**
       * a kind of prefetch (after action A, for predicted action B, of one table's slice or of B's reads) whose stored
       * entries were used by a client less often than this (learned as they are used or wasted) is sent only now and then
       */
      min_used_share: z.number().min(0).max(1).default(0.5),
      /** an account with more rows than this in a table is not sliced (its reads are prefetched one by one); at most 1000 */
      slice_max_rows: z.number().int().min(1).max(1000).default(200),
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
      /**
       * without a model file: the kind learned online — markov1-account (each account's own transitions over the shared
       * ones), markov1 (the shared transitions only; both updated at each action) or forest (in a worker thread)
       */
      online_model: z.enum(['markov1-account', 'markov1', 'forest']).default('markov1-account'),
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

/** How OTLP/HTTP spans are encoded, named as OTEL_EXPORTER_OTLP_PROTOCOL names them (gRPC is not offered). */
export const TraceProtocol = { HttpJson: 'http/json', HttpProtobuf: 'http/protobuf' } as const;
export type TraceProtocol = (typeof TraceProtocol)[keyof typeof TraceProtocol];

/** OpenTelemetry tracing: a span per client transaction, a child per server round trip (docs/tracing.md). */
export const TracingSchema = z
  .strictObject({
    /** off: the request path creates no span at all (one boolean check) */
    enabled: z.boolean().default(false),
    /** share of transactions traced when no application traceparent decides (0..1); a sampled traceparent is always followed */
    sample_ratio: z.number().min(0).max(1).default(0.01),
    exporter: z.enum([TraceExporter.Otlp, TraceExporter.File]).default(TraceExporter.Otlp),
    /**
     * OTLP/HTTP URL spans are POSTed to; unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
     * OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else http://127.0.0.1:4318/v1/traces
     */
    endpoint: z.url().optional(),
    /**
     * exporter `otlp`: `http/json` or `http/protobuf` (about half the CPU per span, 40 % of the bytes); unset:
     * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL (when one of these two), else `http/json`
     */
    protocol: z.enum([TraceProtocol.HttpJson, TraceProtocol.HttpProtobuf]).optional(),
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

/** The pool settings of every (shard, server user) pool (a database's `pool` overrides them key by key). */
export const PoolSchema = z
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
  });

/** the pool keys a database may override (PoolSchema's, without their defaults: an absent key is the top level's) */
const PoolOverridesSchema = z.strictObject(
  Object.fromEntries(Object.entries(PoolSchema.shape).map(([k, v]) => [k, v.removeDefault().optional()])) as {
    [K in keyof typeof PoolSchema.shape]: z.ZodOptional<ReturnType<(typeof PoolSchema.shape)[K]['removeDefault']>>;
  },
);

/** One database of `databases`: its shards, and what it has of its own (absent keys: the top level's). */
export const DatabaseSchema = z.strictObject({
  /** the servers holding this database's data; a client of this database reaches no other */
  shards: z.array(ShardSchema).min(1),
  /** further names clients may connect with, served by the same pools (e.g. `postgres` for a driver's test set-up) */
  aliases: z.array(z.string().min(1)).default([]),
  /** overrides of the top-level pool, key by key */
  pool: PoolOverridesSchema.optional(),
  /** default: the top-level sharding */
  sharding: ShardingSchema.optional(),
  /** default: a file next to the top-level catalog, `<its name>-<database>.db` (placements of two databases never mix) */
  catalog: CatalogSchema.optional(),
  /** default: the top-level plugins */
  plugins: z.array(PluginEntrySchema).optional(),
  /** default: the top-level cache (each database has its own entries) */
  cache: CacheSchema.optional(),
  /** default: the top-level shard_manager (each database has its own, over its own catalog) */
  shard_manager: ShardManagerSchema.optional(),
  /** default: the top-level action_log (each database needs its own dir) */
  action_log: ActionLogSchema.optional(),
});

export const PoolMode = { Session: 'session', Transaction: 'transaction' } as const;
export type PoolMode = (typeof PoolMode)[keyof typeof PoolMode];

const ConfigObjectSchema = z.strictObject({
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
  /** the database name clients connect to (the one-database form, with `shards`; several: `databases` instead of both) */
  database: z.string().min(1).optional(),
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
  /** the shards of `database` (the one-database form) */
  shards: z.array(ShardSchema).min(1).optional(),
  /**
   * several databases (docs/configuration.md): the name clients connect to → its shards and what it has of its own.
   * Instead of `database` + `shards`; the top-level pool, sharding, catalog, plugins, cache, shard_manager and action_log
   * are then every database's defaults.
   */
  databases: z.record(z.string().min(1), DatabaseSchema).optional(),
  pool: PoolSchema.prefault({}),
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
});

export const ConfigSchema = ConfigObjectSchema.superRefine((c, ctx) => {
  // which form (database + shards, or databases): said even when other keys are invalid, as a missing key is
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return; // the object's own issue says so
  const present = (v: unknown): boolean => v !== undefined;
  const issue = (key: string, message: string): void => ctx.addIssue({ code: 'custom', message, path: [key] });
  if (present(c.databases)) {
    for (const key of ['database', 'shards'] as const) if (present(c[key])) issue(key, 'give either `database` and `shards` (one database) or `databases`, not both');
  } else {
    if (!present(c.database)) issue('database', 'required: the database name clients connect to (or give `databases`)');
    if (!present(c.shards)) issue('shards', 'required: the shards of `database` (or give `databases`)');
  }
}, { when: () => true }).superRefine((c, ctx) => {
  c.users.forEach((u, i) => {
    if (u.password === undefined && (u.auth ?? c.auth.method) !== 'trust') {
      ctx.addIssue({ code: 'custom', message: 'a password (or SCRAM verifier) is required unless auth is trust', path: ['users', i, 'password'] });
    }
  });
  c.admin.users.forEach((u, i) => {
    if (u.password === undefined && (u.auth ?? c.auth.method) !== 'trust') {
      ctx.addIssue({ code: 'custom', message: 'a password (or SCRAM verifier) is required unless auth is trust', path: ['admin', 'users', i, 'password'] });
    }
  });
  const issue = (path: PropertyKey[], message: string): void => ctx.addIssue({ code: 'custom', message, path });
  const databases = databaseEntries(c, issue);
  for (const d of databases) checkDatabase(c, d, c.databases !== undefined, issue);
  // what two databases must not share: a name, a catalog (placements would mix), an action log folder
  const nameOwner = new Map<string, string>();
  const catalogOwner = new Map<string, string>();
  const logOwner = new Map<string, string>();
  for (const d of databases) {
    for (const [k, n] of [d.name, ...d.db.aliases].entries()) {
      const path = k === 0 ? d.path : [...d.path, 'aliases', k - 1];
      if (n === ADMIN_DATABASE_NAME) issue(path, `"${ADMIN_DATABASE_NAME}" is the admin console's database`);
      else if (nameOwner.has(n)) issue(path, `"${n}" is already a name of database "${nameOwner.get(n)}"`);
      else nameOwner.set(n, d.name);
    }
    const catalog = d.db.catalog.url ?? d.db.catalog.path!;
    if (catalogOwner.has(catalog)) issue([...d.at('catalog'), 'catalog'], `databases "${catalogOwner.get(catalog)}" and "${d.name}" would share the catalog ${catalog}: give each its own`);
    else catalogOwner.set(catalog, d.name);
    if (d.db.action_log.enabled) {
      if (logOwner.has(d.db.action_log.dir)) issue([...d.at('action_log'), 'action_log', 'dir'], `databases "${logOwner.get(d.db.action_log.dir)}" and "${d.name}" would write their action logs to the same dir: give each its own`);
      else logOwner.set(d.db.action_log.dir, d.name);
    }
  }
}).transform((c) => {
  const databases = Object.fromEntries(databaseEntries(c, () => {}).map((d) => [d.name, {
    ...d.db,
    // global_shard defaults to the first shard
    sharding: { ...d.db.sharding, global_shard: d.db.sharding.global_shard ?? d.db.shards[0]!.name },
  }]));
  const [database, first] = Object.entries(databases)[0]!;
  const { aliases: _aliases, ...own } = first;
  // the top level is the first database's view (databaseConfig gives each database's)
  return { ...c, database, ...own, databases };
});

/** the admin console's database name, which no configured database may take (proxy/session/AdminSession.ts) */
const ADMIN_DATABASE_NAME = 'prescient';

type ParsedConfig = z.output<typeof ConfigObjectSchema>;
type DatabaseEntryConfig = z.output<typeof DatabaseSchema>;

/** One database as configured: its effective settings, and where in the file each of its keys came from (for errors). */
interface DatabaseEntry {
  name: string;
  db: Omit<DatabaseEntryConfig, 'pool' | 'sharding' | 'catalog' | 'plugins' | 'cache' | 'shard_manager' | 'action_log'> & Pick<ParsedConfig, 'pool' | 'sharding' | 'catalog' | 'plugins' | 'cache' | 'shard_manager' | 'action_log'>;
  /** where the database is named in the file (`database`, or its `databases` entry) */
  path: PropertyKey[];
  /** the path prefix of `key`: the database's own entry when it has the key, else the top level */
  at(key: string): PropertyKey[];
}

/** `<catalog file without extension>-<name><extension>`: a database's default catalog next to the top-level one. */
function catalogFileOf(path: string, name: string): string {
  const dot = path.lastIndexOf('.');
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const [stem, ext] = dot > slash + 1 ? [path.slice(0, dot), path.slice(dot)] : [path, ''];
  return `${stem}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}${ext}`;
}

/** The databases of a config, each with its effective settings (the top level's where it has none of its own). */
function databaseEntries(c: ParsedConfig, issue: (path: PropertyKey[], message: string) => void): DatabaseEntry[] {
  // a config in neither form or both has its issue already (ConfigSchema's first check)
  if (c.databases === undefined) {
    if (c.database === undefined || c.shards === undefined) return [];
    const { pool, sharding, catalog, plugins, cache, shard_manager, action_log } = c;
    return [{ name: c.database, db: { shards: c.shards, aliases: [], pool, sharding, catalog, plugins, cache, shard_manager, action_log }, path: ['database'], at: () => [] }];
  }
  if (c.database !== undefined || c.shards !== undefined) return [];
  const entries = Object.entries(c.databases);
  if (entries.length === 0) issue(['databases'], 'at least one database is required');
  return entries.map(([name, e]) => {
    let catalog = e.catalog ?? (c.catalog.path !== undefined ? { path: catalogFileOf(c.catalog.path, name) } : undefined);
    if (catalog === undefined) {
      issue(['databases', name, 'catalog'], 'required: the top-level catalog is a Postgres URL, which databases cannot share (give each its own)');
      catalog = c.catalog;
    }
    const overrides = Object.fromEntries(Object.entries(e.pool ?? {}).filter(([, v]) => v !== undefined));
    return {
      name,
      db: {
        shards: e.shards, aliases: e.aliases, catalog, pool: { ...c.pool, ...overrides },
        sharding: e.sharding ?? c.sharding, plugins: e.plugins ?? c.plugins, cache: e.cache ?? c.cache,
        shard_manager: e.shard_manager ?? c.shard_manager, action_log: e.action_log ?? c.action_log,
      },
      path: ['databases', name],
      at: (key: string) => ((e as Record<string, unknown>)[key] !== undefined ? ['databases', name] : []),
    };
  });
}

/** What must hold within one database: users able to log in to its shards, its domains, its global shard. */
function checkDatabase(c: ParsedConfig, d: DatabaseEntry, several: boolean, issue: (path: PropertyKey[], message: string) => void): void {
  const { shards } = d.db;
  const of = several ? ` (database "${d.name}")` : '';
  // a shard without a forced user: clients log in to it as themselves, so Prescient needs a password it can send
  const unforced = shards.filter((sh) => sh.user === undefined).map((sh) => sh.name);
  if (unforced.length > 0) {
    c.users.forEach((u, i) => {
      if (u.server_user === undefined && u.server_password === undefined && u.password !== undefined && isPasswordVerifier(u.password)) {
        issue(['users', i, 'password'], `user "${u.name}" logs in to shard(s) ${unforced.join(', ')}${of} (no shards[].user) as itself, but its password is a verifier, which cannot log in to a server: give users[].server_password (plaintext), a plaintext password, or shards[].user`);
      }
    });
    if (d.db.cache.enabled) {
      issue([...d.at('shards'), 'shards', shards.findIndex((sh) => sh.user === undefined), 'user'], `the result cache (cache.enabled) installs triggers and listens for versions on every shard as the shard's own user: shards[].user is required (missing on ${unforced.join(', ')}${of})`);
    }
  }
  const s = d.db.sharding;
  const at = [...d.at('sharding'), 'sharding'];
  // every table and every action belongs to at most one domain
  for (const field of ['tables', 'actions'] as const) {
    const owner = new Map<string, string>();
    for (const [domain, dom] of Object.entries(s.domains)) {
      dom[field].forEach((item, i) => {
        const first = owner.get(item);
        if (first === undefined) owner.set(item, domain);
        else if (first !== domain) issue([...at, 'domains', domain, field, i], `${field === 'tables' ? 'table' : 'action'} "${item}" is in two domains: "${first}" and "${domain}"`);
      });
    }
  }
  const domainOfTable = new Map<string, string>();
  for (const [domain, dom] of Object.entries(s.domains)) for (const tbl of dom.tables) if (!domainOfTable.has(tbl)) domainOfTable.set(tbl, domain);
  s.global_tables.forEach((tbl, i) => {
    const domain = domainOfTable.get(tbl);
    if (domain !== undefined) issue([...at, 'global_tables', i], `table "${tbl}" is both global and in domain "${domain}"`);
  });
  if (s.global_shard !== undefined && !shards.some((sh) => sh.name === s.global_shard)) {
    issue([...at, 'global_shard'], `"${s.global_shard}" is not a configured shard${of} (shards: ${shards.map((sh) => sh.name).join(', ')})`);
  }
}

export type Config = z.infer<typeof ConfigSchema>;
/** One database's effective settings (`Config.databases`); databaseConfig() makes the Config a ProxyContext runs with. */
export type DatabaseConfig = Config['databases'][string];
export type ShardConfig = z.infer<typeof ShardSchema>;
export type UserConfig = z.infer<typeof UserSchema>;
export type AdminUserConfig = z.infer<typeof AdminUserSchema>;
export type ShardingConfig = Config['sharding'];
export type DomainConfig = z.infer<typeof DomainSchema>;
export type CatalogConfig = z.infer<typeof CatalogSchema>;
export type PluginEntryConfig = z.infer<typeof PluginEntrySchema>;
export type CacheConfig = z.infer<typeof CacheSchema>;
export type TracingConfig = Config['telemetry']['tracing'];
