// Owns: throw-away self-signed TLS certificates for tests (generated with the openssl binary).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../scripts/testbed.js';
import type { TeardownCapable } from './pg.js';

export interface CertPair {
  dir: string;
  cert: string;
  key: string;
}

/** True if an openssl binary can be run. */
export async function hasOpenssl(): Promise<boolean> {
  try {
    const r = await runCommand('openssl', ['version'], { timeoutMs: 10_000 });
    return r.code === 0;
  } catch {
    return false;
  }
}

/** A self-signed certificate + unencrypted key for CN=localhost in a temp dir removed in t.teardown. */
export async function selfSignedCert(t: TeardownCapable, cn = 'localhost'): Promise<CertPair> {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  const r = await runCommand(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`openssl req failed (${r.code}): ${r.stderr}`);
  return { dir, cert, key };
}
