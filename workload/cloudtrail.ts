// cloudtrail owns reading CloudTrail delivery files (nested dirs, .json/.json.gz) and mapping each event to a catalogue action or a generic read/write of its service.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { resourceOf, serviceOf } from './trailResource.js';

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
  /** the record's `readOnly` (true for reads); absent when the record has none */
  readOnly?: boolean;
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

/**
 * direct: a catalogue action has the eventName; mapped: an EC2 event about a catalogue resource, run as that
 * resource's action; generic: a read or write of `generic_resources` in the event's service.
 */
export type MapKind = 'direct' | 'mapped' | 'generic';
export interface Mapping {
  kind: MapKind;
  /** direct / mapped: the catalogue action whose transaction runs (the replay tags it with the event's own name) */
  action?: string;
  write: boolean;
  /** eventSource without `.amazonaws.com` (ec2 when absent): a generic action's domain */
  service: string;
  /** generic: the resource the request names (bucket/key, role name, …), if it names one */
  resource?: string;
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
  const ev: TrailEvent = { time, identity, account, eventName, eventSource: str(r.eventSource) ?? '', requestParameters: r.requestParameters ?? null };
  const ro = r.readOnly === true || r.readOnly === 'true' ? true : r.readOnly === false || r.readOnly === 'false' ? false : undefined;
  if (ro !== undefined) ev.readOnly = ro;
  return ev;
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

/** A read: the record's readOnly when it has one, else a read verb leads the name (Get, List, Describe, Head, …). */
export function isRead(ev: Pick<TrailEvent, 'eventName' | 'readOnly'>): boolean {
  return ev.readOnly ?? READ_VERBS.test(ev.eventName);
}

/**
 * Maps one event to what the replay runs:
 *  - direct: a catalogue action has exactly the eventName (our actions are named after the EC2 API);
 *  - mapped: an ec2 event whose name has a catalogue resource keyword (Volume, Snapshot, Instance, Image,
 *    SecurityGroup, KeyPair, NetworkInterface): a read runs that domain's Describe*, a write its write action
 *    with the same verb (ModifyVolumeAttribute → ModifyVolume) when there is one;
 *  - generic: everything else (other services, ec2 without a resource keyword, a write with no same-verb
 *    action, a domain without a read) reads or writes `generic_resources` in the event's service, for the
 *    resource its requestParameters name. Read or write: `readOnly`, else the name's verb (isRead).
 */
export function mapEvent(ev: Pick<TrailEvent, 'eventName' | 'eventSource'> & Partial<Pick<TrailEvent, 'readOnly' | 'requestParameters'>>, actions: readonly ActionInfo[]): Mapping {
  const name = ev.eventName;
  const service = serviceOf(ev.eventSource);
  const direct = actions.find((a) => a.name === name);
  if (direct) return { kind: 'direct', action: name, write: direct.write, service };
  const read = isRead(ev);
  const domain = service === 'ec2' ? DOMAIN_KEYWORDS.find(([re]) => re.test(name))?.[1] : undefined;
  if (domain) {
    const inDomain = actions.filter((a) => a.domain === domain && a.write === !read);
    const a = read
      ? inDomain.find((x) => x.name.startsWith('Describe')) ?? inDomain[0]
      : inDomain.find((x) => verbOf(x.name) === verbOf(name));
    if (a) return { kind: 'mapped', action: a.name, write: a.write, service };
  }
  const resource = resourceOf(ev.requestParameters);
  return resource === undefined ? { kind: 'generic', write: !read, service } : { kind: 'generic', write: !read, service, resource };
}

export interface ServiceStats {
  events: number;
  reads: number;
  writes: number;
  /** run as a catalogue action (direct or mapped) */
  known: number;
  /** run on generic_resources */
  generic: number;
}

export interface MapStats {
  events: number;
  identities: number;
  direct: number;
  mapped: number;
  generic: number;
  reads: number;
  writes: number;
  /** by service, most events first */
  perService: Record<string, ServiceStats>;
}

/** Adds one mapped event to a per-service tally. */
export function tally(per: Record<string, ServiceStats>, m: Mapping): void {
  const s = (per[m.service] ??= { events: 0, reads: 0, writes: 0, known: 0, generic: 0 });
  s.events++;
  if (m.write) s.writes++;
  else s.reads++;
  if (m.kind === 'generic') s.generic++;
  else s.known++;
}

export const byEvents = (per: Record<string, ServiceStats>): Record<string, ServiceStats> =>
  Object.fromEntries(Object.entries(per).sort((a, b) => b[1].events - a[1].events || a[0].localeCompare(b[0])));

export function mapStats(events: TrailEvent[], actions: readonly ActionInfo[]): MapStats {
  const s: MapStats = { events: events.length, identities: new Set(events.map((e) => e.identity)).size, direct: 0, mapped: 0, generic: 0, reads: 0, writes: 0, perService: {} };
  for (const e of events) {
    const m = mapEvent(e, actions);
    s[m.kind]++;
    if (m.write) s.writes++;
    else s.reads++;
    tally(s.perService, m);
  }
  s.perService = byEvents(s.perService);
  return s;
}
