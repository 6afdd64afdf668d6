# imagegate as a container: the built JavaScript on Node, run as a non-root user.
#
#   docker build -t imagegate .
#   docker run -p 8080:8080 -v "$PWD/imagegate.yaml:/etc/imagegate/imagegate.yaml:ro" imagegate
#
# BASE_IMAGE is any Debian-based image with node and npm on the PATH (default: the official
# Node 22 slim image, the Node major the Lambda runs).
ARG BASE_IMAGE=node:22-slim

# ---- build: compile src/ to dist/ (needs the dev dependencies: TypeScript)
FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/
COPY src src
RUN npm run build

# ---- runtime: production dependencies for this image's platform + dist/
FROM ${BASE_IMAGE}
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    IMAGEGATE_CONFIG=/etc/imagegate/imagegate.yaml \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# npm picks sharp's prebuilt libvips for the platform it runs on; the check fails the build
# when no binary for it loaded.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=warn \
 && npm cache clean --force --loglevel=error \
 && node -e "const s = require('sharp'); console.log('sharp', s.versions.sharp, 'libvips', s.versions.vips)"
COPY bin bin
COPY examples/images examples/images
COPY --from=build /app/dist dist
RUN groupadd --gid 10001 imagegate \
 && useradd --uid 10001 --gid imagegate --home-dir /var/lib/imagegate --create-home --shell /usr/sbin/nologin imagegate \
 && mkdir -p /etc/imagegate
USER imagegate
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/_health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/imagegate.js"]
CMD ["serve"]
