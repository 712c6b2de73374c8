# syntax=docker/dockerfile:1
# Sokutatsu container image.
#   docker build -t sokutatsu .
#   docker compose -f docker-compose.example.yml up -d     (with Redis; see that file)
#
# The container does not embed Redis: run Redis alongside (e.g. docker compose) with
# appendonly yes + appendfsync always, and pass its URL in SOKUTATSU_REDIS_URL.
# Config: /etc/sokutatsu/config.yaml (a copy of config/production.example.yaml); mount your own
# over it. State (generated TLS certificate, …): the volume /var/lib/sokutatsu.

# ---- build: compile TypeScript, then drop dev dependencies --------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc -p tsconfig.build.json: src/ → dist/ (so the CLI is dist/cli.js)
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime ------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    SOKUTATSU_CONFIG=/etc/sokutatsu/config.yaml
# SOKUTATSU_REDIS_URL (required here: no redis-server in the image) and SOKUTATSU_ADMIN_TOKEN
# come from the environment at run time, e.g. -e SOKUTATSU_REDIS_URL=redis://redis:6379.

RUN groupadd --system sokutatsu \
 && useradd --system --gid sokutatsu --home-dir /var/lib/sokutatsu --no-create-home \
      --shell /usr/sbin/nologin sokutatsu \
 && mkdir -p /var/lib/sokutatsu /etc/sokutatsu \
 && chown sokutatsu:sokutatsu /var/lib/sokutatsu \
 && chmod 0750 /var/lib/sokutatsu

WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY config ./config
# dataDir in this file is /var/lib/sokutatsu, the volume below.
COPY config/production.example.yaml /etc/sokutatsu/config.yaml

# Declared after the chown, so a new volume starts owned by sokutatsu.
VOLUME ["/var/lib/sokutatsu"]

USER sokutatsu

# submission (STARTTLS), submissions (implicit TLS), inbound, HTTP (API, tracking, metrics).
# A non-root user may listen on ports < 1024 here: recent Docker engines (20.10+) start
# containers with net.ipv4.ip_unprivileged_port_start=0. On an older engine, or a runtime that
# does not, map high ports in the config instead (e.g. 2587 → -p 587:2587).
EXPOSE 587 465 25 8025

# Liveness: GET /healthz on the HTTP port (change it here too if you change http.port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8025/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# SIGTERM (docker stop) drains SMTP transactions and deliveries for shutdown.graceSeconds (30):
# give docker stop more than that (docker stop -t 45, compose stop_grace_period: 45s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["start"]
