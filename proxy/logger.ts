// logger owns structured JSON logging to stderr (library code logs here, never to the console).
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * Where log lines go. A stream can die under the proxy (a log collector exits, `prescient start 2>&1 | head`): the
 * write fails with EPIPE. Then the sink stops writing and counts the lines it drops — a failed log write must never
 * raise an error that is itself logged (that loops forever at full CPU).
 */
export class LogSink {
  /** the stream failed: nothing is written any more */
  dead = false;
  /** lines not written: the one that failed and every line after */
  dropped = 0;
  private watching = false;
  private readonly onWritten = (err?: Error | null): void => {
    if (!err) return;
    this.dropped++;
    this.dead = true;
  };

  constructor(private readonly stream: NodeJS.WritableStream = process.stderr) {}

  write(line: string): void {
    if (this.dead) {
      this.dropped++;
      return;
    }
    if (!this.watching) {
      this.watching = true;
      // an 'error' without a listener would become an uncaught exception
      this.stream.on('error', () => {
        this.dead = true;
      });
    }
    try {
      this.stream.write(line, this.onWritten);
    } catch {
      this.dropped++;
      this.dead = true;
    }
  }
}

export class Logger {
  constructor(
    private level: LogLevel = 'info',
    private readonly bindings: Record<string, unknown> = {},
    readonly sink: LogSink = new LogSink(),
  ) {}
  setLevel(level: LogLevel): void { this.level = level; }
  /** adds fields to every line this logger writes from now on (a worker's index) */
  bind(fields: Record<string, unknown>): void { Object.assign(this.bindings, fields); }
  child(bindings: Record<string, unknown>): Logger {
    return new Logger(this.level, { ...this.bindings, ...bindings }, this.sink);
  }
  enabled(level: LogLevel): boolean { return LEVELS[level] >= LEVELS[this.level]; }
  /** log lines lost to a dead stream */
  get dropped(): number { return this.sink.dropped; }
  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    if (this.sink.dead) {
      this.sink.dropped++;
      return;
    }
    const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...this.bindings, ...fields });
    this.sink.write(line + '\n');
  }
  debug(msg: string, f?: Record<string, unknown>): void { this.write('debug', msg, f); }
  info(msg: string, f?: Record<string, unknown>): void { this.write('info', msg, f); }
  warn(msg: string, f?: Record<string, unknown>): void { this.write('warn', msg, f); }
  error(msg: string, f?: Record<string, unknown>): void { this.write('error', msg, f); }
}

/** PRESCIENT_LOG_LEVEL when it names a level: it wins over the config's log.level (at start and at RELOAD). */
function envLevel(): LogLevel | undefined {
  const v = process.env.PRESCIENT_LOG_LEVEL;
  return v !== undefined && v in LEVELS ? (v as LogLevel) : undefined;
}

/** The level to log at: PRESCIENT_LOG_LEVEL, else the config's. */
export function effectiveLevel(configured: LogLevel): LogLevel {
  return envLevel() ?? configured;
}

export const logger = new Logger(envLevel() ?? 'info');
