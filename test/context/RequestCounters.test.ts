// Owns: RequestCounters' counts as the metrics read them: errors by source and SQLSTATE, routing decisions by route kind and key source, refusals.
import t from 'tap';
import { ErrorSource, RequestCounters } from '../../proxy/context/RequestCounters.js';

t.test('each event counted under its own bounded labels', async (t) => {
  const c = new RequestCounters();
  const events: [string, () => void][] = [
    ['server 42P01', () => c.error(ErrorSource.Server, '42P01')],
    ['server 42P01', () => c.error(ErrorSource.Server, '42P01')],
    ['proxy 53300', () => c.error(ErrorSource.Proxy, '53300')],
    ['shard tag', () => c.route('shard', 'tag')],
    ['shard parameter', () => c.route('shard', 'parameter')],
    ['fanout none', () => c.route('fanout', undefined)],
    ['fanout none', () => c.route('fanout')],
    ['refused plugin', () => c.refused('plugin')],
  ];
  for (const [, run] of events) run();
  t.same([...c.errors], [['server\u000042P01', 2], ['proxy\u000053300', 1]]);
  t.same([...c.routes].map(([k, m]) => [k, [...m]]), [['shard', [['tag', 1], ['parameter', 1]]], ['fanout', [['none', 2]]]]);
  t.same(c.refusals, { proxy: 0, plugin: 1 });
});
