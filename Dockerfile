# syntax=docker/dockerfile:1
# msgr: one image for every role (`serve all|gateway|worker|control-plane`, `db migrate`, the operator
# commands). Build: docker build -t msgr:local .   Run: docker run -p 8080:8080 msgr:local
#
# Debian (glibc) rather than Alpine: @signalapp/libsignal-client ships prebuilt linux-x64/arm64 glibc
# binaries only. Node 20 is the oldest supported runtime (package.json engines).
ARG NODE_VERSION=20

# 1. Compile TypeScript with the full (dev) dependency set.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build

# 2. Runtime dependencies only (no TypeScript, vitest, Pulumi, testcontainers), and of libsignal's
#    prebuilt binaries (6 platforms, ~150 MB) only the one for this image's platform (~25 MB).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force \
    && platform="$(node -p 'process.platform + "-" + process.arch')" \
    && test -d "node_modules/@signalapp/libsignal-client/prebuilds/$platform" \
    && find node_modules/@signalapp/libsignal-client/prebuilds -mindepth 1 -maxdepth 1 ! -name "$platform" -exec rm -rf {} +

# 3. The image: node, production node_modules, the compiled commands, the launcher.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    MSGR_DATA_DIR=/data \
    MSGR_HOST=0.0.0.0 \
    MSGR_PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
# `msgr` on PATH for `kubectl exec … msgr status` and the preStop drain hook.
RUN ln -s /app/bin/run.js /usr/local/bin/msgr \
    && mkdir -p /data \
    && chown node:node /data
# The `node` user of the base image (uid 1000): never root.
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MSGR_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself (msgr drains its clients, then exits).
ENTRYPOINT ["node", "/app/bin/run.js"]
CMD ["serve", "all"]
