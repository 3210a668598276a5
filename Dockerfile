# flashtrail ledger API. Build context: the repository root.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY projections ./projections
ENV FLASHTRAIL_DATA_DIR=/data FLASHTRAIL_HOST=0.0.0.0 FLASHTRAIL_PORT=8080
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
VOLUME ["/data"]
EXPOSE 8080
USER node
CMD ["node", "bin/flashtrail.js", "serve"]
