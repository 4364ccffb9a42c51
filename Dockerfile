# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only, as a non-root user.
# Pinned by digest (node 24.18.0, bookworm-slim): a rebuild gets the same base. Update it deliberately (Dependabot's
# docker ecosystem or `docker buildx imagetools inspect node:24-bookworm-slim`).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the project's "prepare" (warming npm start's cache) needs the sources, which come later.
RUN npm ci --ignore-scripts --no-audit --no-fund

# Development: the source mounted over /app/src, restarted on change (docker compose --profile dev).
FROM deps AS dev
ENV NODE_ENV=development
COPY . .
EXPOSE 4000 5000
CMD ["npm", "run", "dev"]

FROM deps AS build
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG BUILD_COMMIT=unknown
ENV NODE_ENV=production BUILD_COMMIT=${BUILD_COMMIT}
# The V8 heap sized for the 512Mi memory limit of deploy/k8s (change them together). Without it V8 sizes the heap
# from the host's memory and lets garbage pile up to 400 MB under load before collecting (docs/performance.md).
ENV NODE_OPTIONS="--max-old-space-size=256"
WORKDIR /app
COPY --from=prod-deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# proto/ at run time: server reflection reads the contracts; migrations are compiled into dist/.
COPY --chown=node:node package.json ./
COPY --chown=node:node proto ./proto
USER node
EXPOSE 4000 5000
# The process handles SIGTERM itself (graceful shutdown); node runs as PID 1 without a shell in between.
# --single-threaded-gc: with one CPU (the limit of deploy/k8s) V8's parallel GC helpers only compete with the main
# thread, and their pauses are what a probe waits behind under load (docs/performance.md#overload). It is not
# allowed in NODE_OPTIONS. With several CPUs per replica, drop it.
CMD ["node", "--single-threaded-gc", "dist/src/main.js"]
