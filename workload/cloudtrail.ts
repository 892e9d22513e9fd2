// cloudtrail owns reading CloudTrail delivery files (nested dirs, .json/.json.gz) and mapping eventName → one of our action names.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';

/** One CloudTrail event, reduced to what replay needs. */
export interface TrailEvent {
  /** eventTime, ms since epoch */
  time: number;
  /** userIdentity.arn, else accountId:principalId, else account/invokedBy (or account/type) */
  identity: string;
  /** recipientAccountId, else userIdentity.accountId, else 'unknown' */
  account: string;
  eventName: string;
  eventSource: string;
  requestParameters: unknown;
}

export interface ReadResult {
  /** all events, sorted by time (stable: file order breaks ties) */
  events: TrailEvent[];
  files: number;
  /** files skipped (not .json/.json.gz, unparsable, or without a Records array), with the reason */
  skipped: { file: string; reason: string }[];
}

/** The part of an Action the mapping needs (actions.ts's Action satisfies it). */
export interface ActionInfo {
  name: string;
  domain: string;
  write: boolean;
}

export type MapKind = 'direct' | 'generic';
export interface Mapping {
  action: string;
  kind: MapKind;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

type Json = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function toEvent(r: Json): TrailEvent | null {
  const time = Date.parse(String(r.eventTime));
  const eventName = str(r.eventName);
  if (!eventName || Number.isNaN(time)) return null;
  const u = (r.userIdentity ?? {}) as Json;
  const account = str(r.recipientAccountId) ?? str(u.accountId) ?? 'unknown';
  const identity =
    str(u.arn) ??
    (str(u.accountId) || str(u.principalId) ? `${str(u.accountId) ?? ''}:${str(u.principalId) ?? ''}` : undefined) ??
    `${account}/${str(u.invokedBy) ?? str(u.type) ?? 'unknown'}`;
  return { time, identity, account, eventName, eventSource: str(r.eventSource) ?? '', requestParameters: r.requestParameters ?? null };
}

/**
 * Reads every `.json` / `.json.gz` file under `dir`. A file is `{"Records": [...]}` (the delivery format); a bare
 * JSON array of records is accepted too (exported samples, e.g. Stratus Red Team detonation logs). Anything else
 * is skipped and reported through `warn`.
 */
export function readCloudTrail(dir: string, warn: (msg: string) => void = () => {}): ReadResult {
  const events: TrailEvent[] = [];
  const skipped: ReadResult['skipped'] = [];
  let files = 0;
  const skip = (file: string, reason: string): void => {
    skipped.push({ file, reason });
    warn(`cloudtrail: skipping ${file}: ${reason}`);
  };
  for (const file of walk(dir)) {
    const gz = file.endsWith('.json.gz');
    if (!gz && !file.endsWith('.json')) {
      skip(file, 'not .json or .json.gz');
      continue;
    }
    let doc: unknown;
    try {
      const buf = readFileSync(file);
      doc = JSON.parse((gz ? gunzipSync(buf) : buf).toString('utf8'));
    } catch (e) {
      skip(file, `unreadable: ${(e as Error).message}`);
      continue;
    }
    const records = Array.isArray(doc) ? doc : (doc as Json | null)?.Records;
    if (!Array.isArray(records)) {
      skip(file, 'no Records array');
      continue;
    }
    files++;
    for (const r of records) {
      const ev = r && typeof r === 'object' ? toEvent(r as Json) : null;
      if (ev) events.push(ev);
    }
  }
  events.sort((a, b) => a.time - b.time);
  return { events, files, skipped };
}

/** Events grouped by identity, each group in time order. */
export function byIdentity(events: TrailEvent[]): Map<string, TrailEvent[]> {
  const m = new Map<string, TrailEvent[]>();
  for (const e of events) {
    const g = m.get(e.identity);
    if (g) g.push(e);
    else m.set(e.identity, [e]);
  }
  for (const g of m.values()) g.sort((a, b) => a.time - b.time);
  return m;
}

/** A stable account id for one CloudTrail identity: each identity replays as its own tenant account. */
export function accountIdFor(account: string, identity: string): string {
  return `ct-${account}-${createHash('sha1').update(identity).digest('hex').slice(0, 10)}`;
}

/** eventName keywords → data domain (first match wins; longer keywords first). */
const DOMAIN_KEYWORDS: [RegExp, string][] = [
  [/NetworkInterface/, 'network_interface'],
  [/SecurityGroup/, 'security_group'],
  [/KeyPair/, 'key_pair'],
  [/Snapshot/, 'snapshot'],
  [/Volume/, 'volume'],
  [/Image/, 'image'],
  [/Instance/, 'instance'],
];

const READ_VERBS = /^(Describe|List|Get|BatchGet|Lookup|Search|Check|Head|Select|Query|Preview|Validate|Estimate)/;

/** Leading verb of an API name: CreateVolume → Create. */
const verbOf = (name: string): string => /^[A-Z][a-z]+/.exec(name)?.[0] ?? name;

/**
 * Maps one event to an action name from `actions`:
 *  - direct: an action has exactly the eventName (our actions are named after the EC2 API);
 *  - generic: domain = the resource keyword in the eventName for ec2 events (Volume, Snapshot, Instance, Image,
 *    SecurityGroup, KeyPair, NetworkInterface), else `account`; a write verb on an ec2 resource becomes that
 *    domain's write action with the same verb (ModifySnapshotAttribute → a Modify* snapshot write) if one exists;
 *    everything else (other services, reads, unmatched writes) becomes the domain's read (its first Describe*),
 *    falling back to the account domain's read (DescribeAccountAttributes).
 */
export function mapEvent(ev: Pick<TrailEvent, 'eventName' | 'eventSource'>, actions: readonly ActionInfo[]): Mapping {
  const name = ev.eventName;
  if (actions.some((a) => a.name === name)) return { action: name, kind: 'direct' };
  const ec2 = ev.eventSource === 'ec2.amazonaws.com' || ev.eventSource === '';
  const domain = (ec2 && DOMAIN_KEYWORDS.find(([re]) => re.test(name))?.[1]) || 'account';
  const inDomain = actions.filter((a) => a.domain === domain);
  if (ec2 && !READ_VERBS.test(name)) {
    const w = inDomain.find((a) => a.write && verbOf(a.name) === verbOf(name));
    if (w) return { action: w.name, kind: 'generic' };
  }
  return { action: genericRead(domain, actions), kind: 'generic' };
}

function genericRead(domain: string, actions: readonly ActionInfo[]): string {
  const reads = (d: string): ActionInfo[] => actions.filter((a) => a.domain === d && !a.write);
  const pick = (rs: ActionInfo[]): ActionInfo | undefined =>
    rs.find((a) => a.name === 'DescribeAccountAttributes') ?? rs.find((a) => a.name.startsWith('Describe')) ?? rs[0];
  const a = pick(reads(domain)) ?? pick(reads('account')) ?? pick(actions.filter((x) => !x.write));
  if (!a) throw new Error('mapEvent: no read action to map to');
  return a.name;
}

export interface MapStats {
  events: number;
  identities: number;
  direct: number;
  generic: number;
}

export function mapStats(events: TrailEvent[], actions: readonly ActionInfo[]): MapStats {
  let direct = 0;
  for (const e of events) if (mapEvent(e, actions).kind === 'direct') direct++;
  return { events: events.length, identities: new Set(events.map((e) => e.identity)).size, direct, generic: events.length - direct };
}
