// logger owns structured JSON logging to stderr (library code logs here, never to the console).
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

export class Logger {
  constructor(private level: LogLevel = 'info', private readonly bindings: Record<string, unknown> = {}) {}
  setLevel(level: LogLevel): void { this.level = level; }
  child(bindings: Record<string, unknown>): Logger {
    const c = new Logger(this.level, { ...this.bindings, ...bindings });
    return c;
  }
  enabled(level: LogLevel): boolean { return LEVELS[level] >= LEVELS[this.level]; }
  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const line = JSON.stringify({ t: new Date().toISOString(), level, msg, ...this.bindings, ...fields });
    process.stderr.write(line + '\n');
  }
  debug(msg: string, f?: Record<string, unknown>): void { this.write('debug', msg, f); }
  info(msg: string, f?: Record<string, unknown>): void { this.write('info', msg, f); }
  warn(msg: string, f?: Record<string, unknown>): void { this.write('warn', msg, f); }
  error(msg: string, f?: Record<string, unknown>): void { this.write('error', msg, f); }
}

export const logger = new Logger((process.env.PRESCIENT_LOG_LEVEL as LogLevel) || 'info');
