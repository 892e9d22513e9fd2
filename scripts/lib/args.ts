// args owns the command-line flags of the benchmarks and test tools: `--name value`, `--name=value`, boolean flags, -h/--help, and typed reads with the scripts' error messages.

/** What a script accepts: its usage text, its flags that take a value, and its flags that take none. */
export interface ArgsSpec {
  usage: string;
  values: readonly string[];
  booleans?: readonly string[];
}

/**
 * Parsed flags. `-h` or `--help` prints the usage to stdout and exits 0; an unknown flag, a bare argument or a flag
 * without its value throws with the usage attached.
 */
export class Args {
  private readonly flags = new Map<string, string>();

  constructor(argv: readonly string[], spec: ArgsSpec) {
    const booleans = new Set(spec.booleans ?? []);
    const known = new Set([...spec.values, ...booleans]);
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '-h' || a === '--help') {
        process.stdout.write(spec.usage + '\n');
        process.exit(0);
      }
      if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${spec.usage}`);
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!known.has(name)) throw new Error(`unknown option --${name}\n${spec.usage}`);
      if (eq > 0) this.flags.set(name, a.slice(eq + 1));
      else if (booleans.has(name)) this.flags.set(name, 'true');
      else {
        const v = argv[++i];
        if (v === undefined) throw new Error(`missing value for --${name}\n${spec.usage}`);
        this.flags.set(name, v);
      }
    }
  }

  has(name: string): boolean {
    return this.flags.has(name);
  }

  get(name: string): string | undefined {
    return this.flags.get(name);
  }

  /** A boolean flag: given (or `--name=true`). */
  bool(name: string): boolean {
    return this.flags.get(name) === 'true';
  }

  /** An integer >= min, or `def` when the flag is absent. */
  int(name: string, def: number, min: number): number {
    const v = this.flags.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  }

  /** A number in [min, max] (an integer unless `int` is false), or `def` when the flag is absent. */
  num(name: string, def: number, min: number, max = Infinity, int = true): number {
    const v = this.flags.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max)
      throw new Error(`--${name}: expected ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
    return n;
  }

  /** A comma-separated, non-empty list of positive integers (`def` when the flag is absent). */
  intList(name: string, def: string): number[] {
    const xs = (this.flags.get(name) ?? def).split(',').filter(Boolean).map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new Error(`bad --${name} entry ${s}`);
      return n;
    });
    if (xs.length === 0) throw new Error(`--${name} must not be empty`);
    return xs;
  }

  /** A comma-separated, non-empty list of some of `all` (`def`, by default all of them, when the flag is absent). */
  list<T extends string>(name: string, all: readonly T[], def: readonly T[] = all): T[] {
    const xs = (this.flags.get(name) ?? def.join(',')).split(',').filter(Boolean);
    for (const x of xs) if (!(all as readonly string[]).includes(x)) throw new Error(`bad --${name} entry ${x} (${all.join('|')})`);
    if (xs.length === 0) throw new Error(`--${name} must not be empty`);
    return xs as T[];
  }
}
