// parseArgs owns the one option parser of the command line: `--name value`, `--name=value` and flags, anything else refused.

/** A command line Prescient cannot read: the CLI prints it with the command's usage and exits 2. */
export class UsageError extends Error {}

export interface ParsedArgs {
  /** the last value of each valued option */
  values: Map<string, string>;
  /** every value of each valued option, in order (options that may repeat: `--ledger A --ledger B`) */
  all: Map<string, string[]>;
  flags: Set<string>;
}

/** Parses `--name value`, `--name=value` and flags; an option not in `valued` or `flags` is a UsageError. */
export function parseArgs(args: readonly string[], valued: readonly string[], flags: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { values: new Map(), all: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (valued.includes(name)) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      out.values.set(name, v);
      out.all.set(name, [...(out.all.get(name) ?? []), v]);
    } else if (flags.includes(a)) out.flags.add(a);
    else throw new UsageError(a.startsWith('-') ? `unknown option "${a}"` : `unexpected argument "${a}"`);
  }
  return out;
}
