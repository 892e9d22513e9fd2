// cloudTrailActions owns turning CloudTrail records (workload/cloudtrail.ts reads them) into action-log events.
import { accountIdFor, readCloudTrail } from '../../workload/cloudtrail.js';
import type { ActionEvent } from './ActionEvent.js';

/**
 * Every CloudTrail event under `dir` as an ActionEvent: each identity is its own account (as `workload replay`
 * does), the eventName is the action (no mapping to the workload's actions: the predictor sees the real sequence).
 */
export function cloudTrailActions(dir: string, warn: (msg: string) => void = () => {}): ActionEvent[] {
  const { events } = readCloudTrail(dir, warn);
  return events.map((e) => ({ t: e.time, account: accountIdFor(e.account, e.identity), action: e.eventName, domain: e.eventSource || undefined }));
}
