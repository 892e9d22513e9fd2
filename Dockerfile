# Prescient as a sidecar: built on node:20-bookworm-slim, run on debian:bookworm-slim with node alone, as the unprivileged `node` user.
# Build:  docker build -t prescient .
# Run:    docker run --rm -p 6432:6432 -v $PWD/prescient.yaml:/etc/prescient/prescient.yaml:ro prescient
# With /etc/prescient/prescient.yaml mounted it runs that config; without it, the embedded default (PGlite) on port
# 6432 with its data in /var/lib/prescient. The first log line names which. docs/sidecar.md has the rest.
# Where no registry can be reached, scripts/docker-base.sh builds both base images locally from Debian's packages.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# node-gyp builds better-sqlite3 against the image's own node headers: nothing is downloaded but npm packages
# (where prebuild-install cannot fetch a prebuilt binary, it builds from source with this toolchain)
ENV npm_config_nodedir=/usr/local
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# dependencies in a layer of their own (kept while only the sources change); `prepare` (tsc) runs below
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3 --no-audit --no-fund
COPY tsconfig.json ./
COPY proxy ./proxy
COPY plugins ./plugins
COPY config ./config
COPY workload ./workload
# compile (not scripts/: benchmarks and test tools), then keep what the runtime loads: production dependencies,
# better-sqlite3's addon without its sources and intermediates; no type declarations, TypeScript sources, maps, markdown
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/better-sqlite3 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src && mkdir -p build/Release && mv /tmp/better_sqlite3.node build/Release/ && cd /app \
 && rm -rf node_modules/@types \
 && find node_modules dist \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.md' \) -type f -delete

FROM debian:bookworm-slim
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && mkdir -p /var/lib/prescient /etc/prescient && chown node:node /var/lib/prescient /etc/prescient
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    PRESCIENT_HOST=0.0.0.0
WORKDIR /app
# the code stays root's: the proxy writes only to /var/lib/prescient
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config/prescient.example.yaml ./config/prescient.example.yaml
COPY workload/schema.sql ./workload/schema.sql
USER node
# 6432: Postgres clients; 9930: the HTTP listener (/healthz, /readyz, /metrics) when the config's http.host is not loopback
EXPOSE 6432 9930
# GET /healthz on the HTTP port of the config the proxy runs with (the same file as below); exit 1 unless 200
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/proxy/cli.js", "healthcheck", "--config-if-exists", "/etc/prescient/prescient.yaml"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=4", "--optimize-for-size", "dist/proxy/cli.js"]
CMD ["start", "--config-if-exists", "/etc/prescient/prescient.yaml", "--data", "/var/lib/prescient/pglite"]
