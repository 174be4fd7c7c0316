# One image for the four services; docker-compose.yml picks the service with its command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/artifacts/package.json libs/artifacts/
COPY libs/contracts/package.json libs/contracts/
COPY libs/messaging/package.json libs/messaging/
COPY libs/telemetry/package.json libs/telemetry/
COPY libs/runtime/package.json libs/runtime/
COPY services/backup/package.json services/backup/
COPY services/verifier/package.json services/verifier/
COPY services/failover/package.json services/failover/
COPY services/audit/package.json services/audit/
RUN npm ci --omit=optional
COPY . .
RUN node scripts/build.mjs

FROM node:20-bookworm-slim
# pg_dump/pg_restore/pg_basebackup for backup and verifier (the client matches the PostgreSQL in compose);
# bsdtar and zstd decode server-compressed base backups as streams (restores, the verifier: decision 0044).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 libarchive-tools zstd && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production HOST=0.0.0.0
# The audit signing key's folder, owned by the service's user: a named volume mounted here starts
# with this ownership, so the key can be created on first start (as node, mode 0600).
RUN mkdir -p /var/lib/continuity && chown node:node /var/lib/continuity
USER node
CMD ["node", "services/audit/dist/main.js"]
