# flashtrail ledger API. Build context: the repository root (see .dockerignore).
# test/docker-fileset.int.test.ts reproduces this file set without a Docker engine: a file missing here fails it.

# Build: dev dependencies, a compiler for better-sqlite3's native module, the TypeScript build; then the
# dev dependencies are pruned, so that node_modules holds what runs and nothing else.
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY projections ./projections
COPY station ./station
# The standalone verifier package (an npm workspace): npm ci needs its manifest, the build bundles it.
COPY packages ./packages
# npm ci builds dist/ (the prepare script); the explicit build is then a no-op, kept so the step is visible.
RUN npm ci --no-audit --no-fund
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# Runtime: compiled JavaScript and production dependencies only; no compiler, no TypeScript, no sources.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
ENV FLASHTRAIL_DATA_DIR=/data FLASHTRAIL_HOST=0.0.0.0 FLASHTRAIL_PORT=8080
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
VOLUME ["/data"]
EXPOSE 8080
USER node
CMD ["node", "bin/flashtrail.js", "serve"]
