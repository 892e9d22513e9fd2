# Prescient as a sidecar: a two-stage build on Node 20 (Debian bookworm), running as the unprivileged `node` user.
# Build:  docker build -t prescient .
# Run:    docker run --rm -p 6432:6432 -v $PWD/config/prescient.example.yaml:/etc/prescient/prescient.yaml:ro prescient
# Without a mounted config it runs the embedded default (PGlite) on port 6432, data in /var/lib/prescient.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 and other native modules build from source: keep the toolchain in this stage only
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY proxy ./proxy
COPY plugins ./plugins
COPY config ./config
COPY workload ./workload
COPY scripts ./scripts
# npm ci runs the `prepare` script (tsc), so the sources are copied first
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PRESCIENT_HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --chown=node:node config ./config
COPY --chown=node:node workload/schema.sql ./workload/schema.sql
RUN mkdir -p /var/lib/prescient /etc/prescient && chown node:node /var/lib/prescient /etc/prescient
USER node
EXPOSE 6432
# a TCP connect to the listener: healthy once Prescient accepts connections
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "require('net').connect(process.env.PRESCIENT_PORT||6432,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--max-semi-space-size=4", "--optimize-for-size", "dist/proxy/cli.js"]
CMD ["start", "--data", "/var/lib/prescient/pglite"]
