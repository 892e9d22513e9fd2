#!/usr/bin/env bash
# docker-smoke.sh checks the container image end to end: build it (docker or podman), run it with a mounted config in front of a real Postgres, psql through it, /healthz, SIGTERM → exit 0.
#
#   bash scripts/docker-smoke.sh [--no-http]
#     --no-http     skip the /healthz checks (a build without the HTTP listener)
# The image is tagged IMAGE (default prescient:smoke) and kept: a second run reuses its build cache.
# ENGINE=docker|podman chooses the engine; without either (or with a docker client and no engine) it prints
# "skipped: no docker or podman" and exits 0. Missing base images are built locally by scripts/docker-base.sh.
# The Postgres is a testbed cluster on loopback (scripts/testbed.ts); the container shares the host's network and
# listens on loopback ports of its own. Ends with PASS or FAIL and `N passed, N failed`; exit 0 only on PASS.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HTTP_CHECK=1
for a in "$@"; do
  case "$a" in
    --no-http) HTTP_CHECK=0 ;;
    *) echo "usage: bash scripts/docker-smoke.sh [--no-http]" >&2; exit 2 ;;
  esac
done

# --- the engine -------------------------------------------------------------------------------------------------
usable() { # docker answers --version without an engine: ask the engine itself
  command -v "$1" >/dev/null 2>&1 && "$1" info >/dev/null 2>&1
}
if [ -n "${ENGINE:-}" ]; then
  usable "$ENGINE" || { echo "docker-smoke: skipped: ENGINE=$ENGINE is not usable here"; exit 0; }
elif usable docker; then ENGINE=docker
elif usable podman; then ENGINE=podman
else
  echo "docker-smoke: skipped: no docker or podman (no container engine answers here)"
  exit 0
fi
BUILD_FLAGS=(--network host)
RUN_FLAGS=()
if [ "$ENGINE" = podman ]; then
  # docker format keeps the HEALTHCHECK (OCI images drop it); runc and these limits where the default runtime's fail
  BUILD_FLAGS+=(--format docker --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
  RUN_FLAGS+=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
  if command -v runc >/dev/null 2>&1; then BUILD_FLAGS+=(--runtime runc); RUN_FLAGS+=(--runtime runc); fi
fi
IMAGE=${IMAGE:-prescient:smoke}
NAME=prescient-smoke-$$
WORK=$(mktemp -d /tmp/prescient-smoke.XXXXXX)
chmod 755 "$WORK"
PASSED=0
FAILED=0
RESULTS=()
check() { # NAME OK(0/1) [DETAIL]
  if [ "$2" = 0 ]; then PASSED=$((PASSED + 1)); RESULTS+=("  PASS  $1${3:+ ($3)}"); echo "docker-smoke: PASS $1${3:+ ($3)}"
  else FAILED=$((FAILED + 1)); RESULTS+=("  FAIL  $1${3:+ ($3)}"); echo "docker-smoke: FAIL $1${3:+ ($3)}"; fi
}
summary() {
  echo
  echo "docker-smoke summary ($ENGINE, image $IMAGE):"
  printf '%s\n' "${RESULTS[@]}"
  if [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]; then echo "docker-smoke: PASS"; else echo "docker-smoke: FAIL"; fi
  echo "docker-smoke: $PASSED passed, $FAILED failed"
}
cleanup() {
  "$ENGINE" rm -f "$NAME" >/dev/null 2>&1
  "$ENGINE" volume rm -f "$NAME" >/dev/null 2>&1
  [ -f "$WORK/testbed.json" ] && node dist/scripts/testbed.js stop --state "$WORK/testbed.json" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
fail_now() { check "$1" 1 "${2:-}"; summary; exit 1; }
health=""
wait_healthy() { # CONTAINER: sets $health to the engine's last health status
  if [ "$ENGINE" = podman ]; then
    # podman runs HEALTHCHECKs from systemd timers, absent here: run the image's check now, as the timer would
    for _ in $(seq 1 30); do
      "$ENGINE" healthcheck run "$1" >/dev/null 2>&1 && break
      sleep 2
    done
  fi
  for _ in $(seq 1 45); do
    health=$("$ENGINE" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null)
    [ "$health" = healthy ] && break
    sleep 2
  done
}
echo "docker-smoke: engine $ENGINE ($("$ENGINE" --version))"

# --- the image --------------------------------------------------------------------------------------------------
for base in $(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u); do
  if ! "$ENGINE" image inspect "$base" >/dev/null 2>&1; then
    echo "docker-smoke: base image $base missing: building it locally (scripts/docker-base.sh)"
    ENGINE=$ENGINE bash scripts/docker-base.sh || fail_now "local base images"
    break
  fi
done
started=$(date +%s)
if "$ENGINE" build "${BUILD_FLAGS[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
  check "image builds" 0 "$(($(date +%s) - started)) s, $("$ENGINE" image ls --format '{{.Size}}' "$IMAGE" | head -1)"
else
  tail -30 "$WORK/build.log"
  fail_now "image builds" "see the build log above"
fi

# --- a Postgres on loopback, and the config that points at it ----------------------------------------------------
[ -f dist/scripts/testbed.js ] || npm run --silent build || fail_now "npm run build (for scripts/testbed.ts)"
node dist/scripts/testbed.js start 1 --state "$WORK/testbed.json" --dir "$WORK" >"$WORK/testbed.out" 2>&1 \
  || { cat "$WORK/testbed.out"; fail_now "Postgres testbed starts"; }
read -r PG_PORT PG_USER PG_PASSWORD < <(node -e 'const [c] = require(process.argv[1]); console.log(c.port, c.user, c.password)' "$WORK/testbed.json")
check "Postgres testbed starts" 0 "127.0.0.1:$PG_PORT"
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
PORT=$(free_port)
HTTP_PORT=$(free_port)
cat >"$WORK/prescient.yaml" <<EOF
listen: { host: 127.0.0.1, port: $PORT }
http: { enabled: true, host: 127.0.0.1, port: $HTTP_PORT }
database: app
users: [ { name: app, password: app-secret } ]
shards: [ { name: s0, host: 127.0.0.1, port: $PG_PORT, database: app, user: $PG_USER, password: "$PG_PASSWORD" } ]
catalog: { path: /var/lib/prescient/prescient.db }
EOF
chmod 644 "$WORK/prescient.yaml"

# --- the container ----------------------------------------------------------------------------------------------
# host network, loopback only (PRESCIENT_HOST overrides the image's 0.0.0.0); a read-only root with the data dir on
# a named volume (it takes the image's /var/lib/prescient, owned by `node`)
"$ENGINE" run -d --name "$NAME" "${RUN_FLAGS[@]}" --network host --read-only -v "$NAME:/var/lib/prescient" \
  -e PRESCIENT_HOST=127.0.0.1 -v "$WORK/prescient.yaml:/etc/prescient/prescient.yaml:ro" \
  "$IMAGE" >"$WORK/run.out" 2>&1 || { cat "$WORK/run.out"; fail_now "container starts"; }
export PGPASSWORD=app-secret PGCONNECT_TIMEOUT=5
ready=1
for _ in $(seq 1 90); do
  if psql -h 127.0.0.1 -p "$PORT" -U app -d app -qAtc 'SELECT 1' >/dev/null 2>&1; then ready=0; break; fi
  [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ] || break
  sleep 1
done
check "Prescient accepts psql connections" $ready "127.0.0.1:$PORT"
[ $ready = 0 ] || { "$ENGINE" logs "$NAME" 2>&1 | tail -20; fail_now "container keeps running"; }
"$ENGINE" logs "$NAME" >"$WORK/logs.txt" 2>&1
grep -q '"path":"/etc/prescient/prescient.yaml"' "$WORK/logs.txt"
check "it runs the mounted config (logged)" $? "$(grep -o '"msg":"[^"]*configuration[^"]*"[^}]*' "$WORK/logs.txt" | head -1)"

# --- psql through Prescient: a write, then reads -------------------------------------------------------------------
out=$(psql -h 127.0.0.1 -p "$PORT" -U app -d app -v ON_ERROR_STOP=1 -qAt \
  -c "CREATE TABLE IF NOT EXISTS smoke (account_id text NOT NULL, note text)" \
  -c "INSERT INTO smoke VALUES ('acct-1', 'written through the container')" \
  -c "SELECT note FROM smoke WHERE account_id = 'acct-1'" 2>&1)
[ "$out" = "written through the container" ]
check "psql through Prescient: CREATE, INSERT, SELECT" $? "$out"
direct=$(PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d app -qAtc "SELECT count(*) FROM smoke WHERE account_id = 'acct-1'" 2>&1)
[ "$direct" = 1 ]
check "the write is on the Postgres server" $? "count $direct"

# --- /healthz, from the host and as the engine's health check -------------------------------------------------------
if [ $HTTP_CHECK = 1 ]; then
  answer=$(node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => console.log(r.status, (await r.text()).trim().slice(0, 40)), (e) => console.log(e.message))' \
    "http://127.0.0.1:$HTTP_PORT/healthz" 2>&1)
  [ "${answer%% *}" = 200 ]
  check "GET /healthz answers 200" $? "$answer"
  wait_healthy "$NAME"
  [ "$health" = healthy ]
  check "the image's HEALTHCHECK reports healthy" $? "${health:-no status}"
else
  echo "docker-smoke: /healthz checks skipped (--no-http)"
fi

# --- SIGTERM: a graceful stop, exit code 0 ------------------------------------------------------------------------
"$ENGINE" stop -t 40 "$NAME" >/dev/null 2>&1
code=$("$ENGINE" inspect -f '{{.State.ExitCode}}' "$NAME" 2>/dev/null)
[ "$code" = 0 ]
check "SIGTERM stops it with exit code 0" $? "exit code ${code:-unknown}"
"$ENGINE" logs "$NAME" >"$WORK/logs.txt" 2>&1
grep -q '"signal":"SIGTERM"' "$WORK/logs.txt"
check "it logged the SIGTERM" $?
[ "$FAILED" = 0 ] || { echo "--- container log (last 20 lines)"; tail -20 "$WORK/logs.txt"; }

# --- no config mounted: the embedded default (no network: its ports stay inside the container) --------------------
if [ $HTTP_CHECK = 1 ]; then
  "$ENGINE" rm -f "$NAME" >/dev/null 2>&1
  "$ENGINE" run -d --name "$NAME" "${RUN_FLAGS[@]}" --network none "$IMAGE" >"$WORK/run.out" 2>&1 || cat "$WORK/run.out"
  wait_healthy "$NAME"
  "$ENGINE" logs "$NAME" >"$WORK/logs.txt" 2>&1
  grep -q '"msg":"no configuration file: the embedded default"' "$WORK/logs.txt"
  check "without a mounted config: the embedded default (logged)" $? "$(grep -o '"source":"embedded default[^"]*"' "$WORK/logs.txt" | head -1)"
  [ "$health" = healthy ]
  check "without a mounted config: HEALTHCHECK healthy (http.port 9930)" $? "${health:-no status}"
  "$ENGINE" stop -t 40 "$NAME" >/dev/null 2>&1
  code=$("$ENGINE" inspect -f '{{.State.ExitCode}}' "$NAME" 2>/dev/null)
  [ "$code" = 0 ]
  check "without a mounted config: SIGTERM, exit code 0" $? "exit code ${code:-unknown}"
  [ "$FAILED" = 0 ] || { echo "--- container log (last 20 lines)"; tail -20 "$WORK/logs.txt"; }
fi

summary
[ "$FAILED" = 0 ]
