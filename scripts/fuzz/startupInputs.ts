// startupInputs owns generating category (a): mutated start-up packets (lengths, versions, request codes, parameters) and first auth messages.
import type { Rng } from '../../workload/types.js';
import { pick } from '../../workload/rng.js';
import { StartupCode } from '../../proxy/protocol/MessageCode.js';
import { CancelRequest, SASLInitialResponse } from '../../proxy/protocol/FrontendEncoder.js';
import { PasswordFrame, Terminate, cstring } from './frames.js';
import { mutateBytes, randomBytes } from './mutators.js';

export interface Login {
  user: string;
  password: string;
  database: string;
}

/** An untyped packet: Int32 length (of the whole packet unless `len` is given), Int32 code, body. */
function packet(code: number, body: Buffer, len?: number): Buffer {
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(len ?? out.length, 0);
  out.writeInt32BE(code | 0, 4);
  body.copy(out, 8);
  return out;
}

function params(pairs: [string, string][], terminator = true): Buffer {
  return Buffer.concat([...pairs.flatMap(([k, v]) => [cstring(k), cstring(v)]), terminator ? Buffer.from([0]) : Buffer.alloc(0)]);
}

const VERSIONS = [StartupCode.Protocol3, (3 << 16) | 1, (3 << 16) | 2, (3 << 16) | 9999, 2 << 16, (1234 << 16) | 5678, 0, -1, StartupCode.SSLRequest, StartupCode.GSSENCRequest, StartupCode.CancelRequest, (1234 << 16) | 5677];

/** Category (a). The kinds name the part that was mutated. */
export function startupInput(rng: Rng, login: Login): { kind: string; bytes: Buffer } {
  const base: [string, string][] = [['user', login.user], ['database', login.database]];
  switch (rng.int(13)) {
    case 0: { // a length word from the boundary values
      const p = packet(StartupCode.Protocol3, params(base));
      const real = p.length;
      p.writeInt32BE(pick(rng, [0, 1, 4, 7, 8, 9, real - 1, real + 1, real + 100, 10000, 10001, 10008, 0x7fffffff, -1])! | 0, 0);
      return { kind: 'startup:length', bytes: p };
    }
    case 1: // protocol versions and request codes on a start-up body
      return { kind: 'startup:version', bytes: packet(pick(rng, VERSIONS)!, params(base)) };
    case 2: { // SSLRequest / GSSENCRequest, alone or followed by a start-up packet in the same write
      const req = packet(rng.int(2) ? StartupCode.SSLRequest : StartupCode.GSSENCRequest, Buffer.alloc(0));
      const tail = rng.int(3) === 0 ? Buffer.alloc(0) : rng.int(2) ? packet(StartupCode.Protocol3, params(base)) : randomBytes(rng, rng.int(12));
      return { kind: 'startup:ssl-gss', bytes: Buffer.concat([req, tail]) };
    }
    case 3: { // CancelRequest: random keys, wrong lengths, trailing bytes
      const c = CancelRequest(rng.int(1 << 30), rng.int(1 << 30));
      const v = rng.int(3);
      return { kind: 'startup:cancel', bytes: v === 0 ? c : v === 1 ? c.subarray(0, 8 + rng.int(8)) : Buffer.concat([c, randomBytes(rng, 1 + rng.int(8))]) };
    }
    case 4: { // missing NULs: no final terminator, no terminator between key and value
      const v = rng.int(2);
      const body = v === 0 ? params(base, false) : Buffer.from(`user\0${login.user}database\0${login.database}\0\0`, 'utf8');
      return { kind: 'startup:nul', bytes: packet(StartupCode.Protocol3, body) };
    }
    case 5: { // huge and odd parameters
      const big = 'x'.repeat(pick(rng, [100, 5000, 9900, 20000, 70000])!);
      const pairs: [string, string][] = [...base, pick(rng, [['application_name', big], [big, 'v'], ['options', `-c ${big}`], ['', ''], ['user', 'again'], ['database', '']] as [string, string][])!];
      return { kind: 'startup:big-param', bytes: packet(StartupCode.Protocol3, params(pairs)) };
    }
    case 6: // replication, options, unknown and protocol-extension parameters
      return {
        kind: 'startup:params',
        bytes: packet(StartupCode.Protocol3, params([...base, pick(rng, [
          ['replication', 'database'], ['replication', 'true'], ['replication', 'on'], ['options', '-c statement_timeout=1'],
          ['_pq_.unknown', 'x'], ['client_encoding', 'LATIN1'], ['client_encoding', 'nonsense'], ['DateStyle', 'ISO'], ['nonsense', 'x'],
        ] as [string, string][])!])),
      };
    case 7: { // who: missing, empty, unknown, admin database, non-UTF-8
      const who = pick(rng, [
        [['database', login.database]], [['user', '']], [['user', 'nobody'], ['database', login.database]],
        [['user', login.user], ['database', 'prescient']], [['user', login.user], ['database', 'nodb']], [['user', 'postgres'], ['database', login.database]],
      ] as [string, string][][])!;
      if (rng.int(4) === 0) {
        const body = Buffer.concat([cstring('user'), Buffer.from([0xc3, 0x28, 0xff, 0]), cstring('database'), cstring(login.database), Buffer.from([0])]);
        return { kind: 'startup:who', bytes: packet(StartupCode.Protocol3, body) };
      }
      return { kind: 'startup:who', bytes: packet(StartupCode.Protocol3, params(who)) };
    }
    case 8: { // a correct start-up then a mutated first authentication message (SASLInitialResponse or password)
      const start = packet(StartupCode.Protocol3, params(base));
      const v = rng.int(4);
      let auth: Buffer;
      if (v === 0) auth = SASLInitialResponse('SCRAM-SHA-256', 'n,,n=*,r=' + 'A'.repeat(1 + rng.int(30)));
      else if (v === 1) auth = SASLInitialResponse(pick(rng, ['SCRAM-SHA-256-PLUS', 'PLAIN', ''])!, 'n,,n=*,r=abc');
      else if (v === 2) auth = PasswordFrame(cstring(login.password));
      else auth = mutateBytes(rng, SASLInitialResponse('SCRAM-SHA-256', 'n,,n=*,r=fuzznonce'), 'int32');
      return { kind: 'startup:auth', bytes: Buffer.concat([start, auth]) };
    }
    case 9: // a Terminate (typed) before any start-up packet
      return { kind: 'startup:terminate-first', bytes: Terminate };
    case 10: // pure garbage / an HTTP request
      return { kind: 'startup:garbage', bytes: rng.int(2) ? Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n') : randomBytes(rng, 1 + rng.int(64)) };
    case 11: // two start-up packets back to back
      return { kind: 'startup:twice', bytes: Buffer.concat([packet(StartupCode.Protocol3, params(base)), packet(StartupCode.Protocol3, params(base))]) };
    default: // byte-level mutations of a correct start-up packet
      return { kind: 'startup:bytes', bytes: mutateBytes(rng, packet(StartupCode.Protocol3, params(base))) };
  }
}

/**
 * Whether a start-up input is owed an answer or a close: its first packet is complete or has an impossible length.
 * Postgres and Prescient (max_startup_packet) limit the packet to 10000 bytes *after* the length word (10004 in all).
 */
export function startupOwed(b: Buffer, maxStartupPacket: number): boolean {
  if (b.length < 4) return false;
  const len = b.readInt32BE(0);
  if (len < 8 || len > maxStartupPacket + 4) return true;
  return b.length >= len;
}
