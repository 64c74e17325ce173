#!/usr/bin/env bash
# Build the image with podman from a locally made Debian base, start it, wait until healthy,
# request /v1/demand from inside the container, check it runs as non-root, then stop and remove it.
# The same Dockerfile builds on a Docker host with its default base (python:3.11-slim-bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-magnet-forecast:test}"
BASE_TAG="localhost/debian-python:bookworm"
WORK="${SMOKE_WORK:-${TMPDIR:-/tmp}/magnet-forecast-smoke}"
PODMAN=(podman --storage-driver=vfs)
HEALTH_TIMEOUT_S="${HEALTH_TIMEOUT_S:-180}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
if [ "${#need[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p "$WORK"

# The Debian mirror this machine's apt already uses (never a hard-coded host).
mirror() {
  local m
  m=$(grep -rhs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$m" ] || { echo "no Debian mirror found in the apt configuration" >&2; exit 1; }
  echo "$m"
}

if ! "${PODMAN[@]}" image exists "$BASE_TAG"; then
  t0=$(date +%s)
  rootfs="$WORK/rootfs"
  $SUDO rm -rf "$rootfs"
  $SUDO debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$(mirror)" >"$WORK/debootstrap.log" 2>&1
  # no package caches, lists or documentation in the base
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  $SUDO tar -C "$rootfs" -c . | "${PODMAN[@]}" import - "$BASE_TAG" >/dev/null
  $SUDO rm -rf "$rootfs"
  echo "base image $BASE_TAG made in $(( $(date +%s) - t0 )) s"
fi

# The pip configuration in use (global files, as `pip config debug` names them) and any file it
# refers to, mounted read-only at the same paths into the build only; never copied into the image.
mounts=(-v /etc/ssl/certs:/etc/ssl/certs:ro)
while read -r f; do
  [ -n "$f" ] && [ -f "$f" ] && mounts+=(-v "$f:$f:ro")
done < <(python3 - <<'PY'
import configparser, subprocess
out = subprocess.run(["pip", "config", "debug"], capture_output=True, text=True).stdout.splitlines()
section, files = None, []
for line in out:
    if line and not line.startswith(" "):
        section = line.rstrip(":")
    elif section == "global" and line.strip().endswith("exists: True"):
        files.append(line.strip().split(",")[0])
for f in dict.fromkeys(files):
    print(f)
    cp = configparser.ConfigParser()
    cp.read(f)
    for key in ("constraint", "requirement"):
        if cp.has_option("global", key):
            print(cp.get("global", key))
PY
)

t0=$(date +%s)
"${PODMAN[@]}" build --format docker --network=host --isolation=chroot "${mounts[@]}" \
  --build-arg BASE_IMAGE="$BASE_TAG" -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
echo "image built in $(( $(date +%s) - t0 )) s"
size=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}')
echo "image size: $(( size / 1024 / 1024 )) MiB (goal < 500 MiB)"
healthcheck=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{json .Config.Healthcheck}}')
[ "$healthcheck" != "null" ] || { echo "HEALTHCHECK missing from the image" >&2; exit 1; }

PORT="${PORT:-18000}"
t0=$(date +%s.%N)
cid=$("${PODMAN[@]}" --runtime runc run -d --network=host --cgroup-manager=cgroupfs \
  --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -e PORT="$PORT" "$IMAGE")
cleanup() { "${PODMAN[@]}" --runtime runc rm -f "$cid" >/dev/null 2>&1 || true; }
trap cleanup EXIT

healthy=""
deadline=$(( $(date +%s) + HEALTH_TIMEOUT_S ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if "${PODMAN[@]}" --runtime runc healthcheck run "$cid" >/dev/null 2>&1; then healthy=yes; break; fi
  if [ "$("${PODMAN[@]}" inspect "$cid" --format '{{.State.Running}}')" != "true" ]; then break; fi
  sleep 0.5
done
if [ -z "$healthy" ]; then
  "${PODMAN[@]}" logs "$cid" | tail -40
  echo "container did not become healthy" >&2
  exit 1
fi
t_healthy=$(date +%s.%N)
started=$("${PODMAN[@]}" inspect "$cid" --format '{{.State.StartedAt.Unix}}.{{.State.StartedAt.Nanosecond}}' 2>/dev/null || echo "$t0")
echo "podman run to healthy: $(python3 -c "print(round($t_healthy - $t0, 1))") s (includes podman copying the image with the vfs driver)"
python3 - "$cid" "${PODMAN[@]}" <<'PY'
import datetime, json, subprocess, sys
cid, podman = sys.argv[1], sys.argv[2:]
state = json.loads(subprocess.run([*podman, "inspect", cid], capture_output=True, text=True).stdout)[0]["State"]
start = datetime.datetime.fromisoformat(state["StartedAt"][:26].rstrip("Z"))
log = state.get("Health", state.get("Healthcheck", {})).get("Log") or []
ok = [datetime.datetime.fromisoformat(e["End"][:26].rstrip("Z")) for e in log if e.get("ExitCode") == 0]
if ok:
    print(f"container process start to healthy: {(min(ok) - start).total_seconds():.1f} s (goal < 10 s)")
PY

# healthy means the process answers; ready means the stored forecast is loaded and served
t_ready0=$(date +%s.%N)
"${PODMAN[@]}" --runtime runc exec "$cid" python -c "
import time, urllib.error, urllib.request
deadline = time.monotonic() + 120
while True:
    try:
        urllib.request.urlopen('http://127.0.0.1:$PORT/ready', timeout=5)
        break
    except (urllib.error.URLError, OSError):
        if time.monotonic() > deadline:
            raise SystemExit('not ready within 120 s')
        time.sleep(0.5)
"
echo "healthy to ready (stored forecast loaded): $(python3 -c "print(round($(date +%s.%N) - $t_ready0, 1))") s"

body=$("${PODMAN[@]}" --runtime runc exec "$cid" python -c \
  "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/v1/demand?scenario=base&start=2030&end=2030', timeout=10).read().decode())")
echo "$body" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['assumptions_version'] and d['records'], d; print('GET /v1/demand:', d['assumptions_version'], len(d['records']), 'records')"

uid=$("${PODMAN[@]}" --runtime runc exec "$cid" id -u)
[ "$uid" != "0" ] || { echo "container runs as root" >&2; exit 1; }
echo "runs as uid $uid"

# the service keeps freed Monte Carlo arrays for reuse (api.allocator): glibc's mallopt must be reachable
kept=$("${PODMAN[@]}" --runtime runc exec "$cid" python -c "from api.allocator import retain_freed_memory; print(retain_freed_memory())")
[ "$kept" = "True" ] || { echo "mallopt not reachable in the image: $kept" >&2; exit 1; }
echo "allocator keeps freed memory: $kept"

"${PODMAN[@]}" --runtime runc stop -t 20 "$cid" >/dev/null
echo "stopped: exit code $("${PODMAN[@]}" inspect "$cid" --format '{{.State.ExitCode}}')"
"${PODMAN[@]}" --runtime runc rm "$cid" >/dev/null
trap - EXIT
"${PODMAN[@]}" image prune -f >/dev/null 2>&1 || true  # drop dangling build layers (vfs copies are large)
echo "smoke test passed"
