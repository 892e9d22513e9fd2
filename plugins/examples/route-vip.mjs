// route-vip is the README's example plugin: VIP accounts run on a shard of their own, and nobody may DELETE without WHERE.
//
// prescient.yaml:
//   plugins:
//     - module: ./plugins/examples/route-vip.mjs     # relative to the config file
//       options: { shard: s2, accounts: [acct-vip-1, acct-vip-2] }

// The default export may be the plugin or, as here, a factory that gets the entry's `options`.
export default function routeVip(options) {
  const vips = new Set(options?.accounts ?? []);
  const shard = options?.shard;
  let rerouted = 0;
  return {
    name: 'route-vip',
    apiVersion: 1,
    // runs after the built-in key plugins (sqlcommenter, column-rules), which fill ctx.shardKey
    dependencies: ['column-rules'],
    setup(host) {
      if (!shard) throw new Error('options.shard is required');
      host.log.info('route-vip ready', { shard, accounts: vips.size });
    },
    close() {},
    createSessionHooks(session) {
      return {
        // may answer or reject a request before it is routed
        onRequest(ctx) {
          if (/^\s*delete\s+from\s+[\w."]+\s*;?\s*$/i.test(ctx.sql)) {
            return { reject: { code: '42501', message: `route-vip: DELETE without WHERE is not allowed (user ${session.user})` } };
          }
          return undefined;
        },
        // may replace the proxy's route: the first plugin to answer wins
        onRoute(ctx) {
          const account = ctx.request.shardKey?.account;
          if (account !== undefined && vips.has(account) && ctx.shard !== shard) {
            rerouted++;
            return { shard, reason: `VIP account ${account} (${rerouted} rerouted)` };
          }
          return undefined;
        },
      };
    },
  };
}
