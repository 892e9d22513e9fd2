// embeddedConfig owns the zero-install default: a config in front of an embedded Postgres (PGlite). Placeholder until the PGlite launcher lands.
import type { Config } from '../../config/schema.js';
export async function embeddedConfig(_dataDir: string): Promise<{ config: Config; stop: () => Promise<void> }> {
  throw new Error('embedded mode is not built yet: pass --config');
}
