// flags owns command-line parsing for the workload subcommands (--name value, --name=value, boolean --name).
export class Flags {
  constructor(private readonly args: string[]) {}
  str(name: string): string | undefined {
    const i = this.args.indexOf(`--${name}`);
    if (i >= 0 && i + 1 < this.args.length && !this.args[i + 1]!.startsWith('--')) return this.args[i + 1];
    const eq = this.args.find((a) => a.startsWith(`--${name}=`));
    return eq?.slice(name.length + 3);
  }
  bool(name: string): boolean {
    return this.args.includes(`--${name}`);
  }
  num(name: string, dflt: number): number {
    const v = this.str(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name}: expected a number, got "${v}"`);
    return n;
  }
}

/** "60s", "500ms", "2m", "90" (seconds) → ms. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`bad duration "${s}" (e.g. 60s, 500ms, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

/** A postgres URL with its password masked, for printing. */
export function redact(url: string): string {
  return url.replace(/(postgres(?:ql)?:\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
