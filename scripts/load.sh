#!/usr/bin/env bash
# Load test of examples/load_api.rs: throughput, p99 latency and peak RSS of a hello-world axum API
# with and without GaLayer, against a healthy, a hung and a refusing collector. Loopback only.
#
#   scripts/load.sh                                   # every variant, 10 s each, 3 rounds
#   DURATION=60 VARIANTS="bare hung" scripts/load.sh  # the 60 s hung-collector run
#   scripts/load.sh capacity                          # sender capacity (hits/s per core)
#
# Environment (defaults): DURATION=10 (s per run), WARMUP=2 (s, unmeasured, before each run),
# ROUNDS=3, VARIANTS="bare ga work-bare work-ga hung refusing", CONNS=64 (wrk connections),
# (also: trace, tower-http's TraceLayer added the same way as GaLayer, for comparison),
# API_PORT=18080, COLLECTOR_PORT=18090, HUNG_PORT=18091, WORK_US=100, OUT=target/load,
# URLS=same (or distinct, see below).
#
# The API runs on core 0 (taskset -c 0, one tokio worker plus the sender thread), wrk and the
# collectors on core 1. Variants alternate within each round, each round starting one variant
# later than the one before (bare, ga, hung; ga, hung, bare; ...).
# wrk sends GET /users/42?page=2&sort=desc with Host, User-Agent, Referer and one of 100
# Authorization tokens (100 distinct API consumers, so 100 GA client ids). With URLS=distinct,
# every request has a path of its own (/users/1, /users/2, ...): no page is seen twice, so the
# sender's page memo never helps.
# Each run is bounded: DURATION + WARMUP seconds of load, then SIGTERM to the API.
#
# Optional variants ga-spare and work-ga-spare run ga / work-ga with the tower-ga-sender thread
# moved to core 1 (with wrk and the collector) once it has started: the API's own thread keeps
# core 0 to itself, as it would on a host whose other cores aren't saturated.
#
# Optional variant hung-flushing: hung, with the application flushing every 100 ms (each flush
# returns false by its 100 ms deadline): the sender's memory must stay as flat as without flushes.
#
# Optional variant flood: ga against a collector SLOW_MS (2) ms away, with 9 of every 10 requests
# carrying an Authorization token never seen before (a flood of new identities) and the tenth one
# of the 100 consumers: the API's figures, and the sender's Stats (crowded: coalesced under one
# client id; crowd_dropped). That known consumers lose nothing is tests/floods.rs's to show.
#
# Optional variant ga-nonet: ga with a transport that answers every batch at once and sends
# nothing, so the sender does all its work but the HTTP requests: what they cost is ga's gap to it.
#
# A/B between builds: with OLD_BIN=path/to/an/older/load_api, a variant suffixed `@old` (e.g.
# VARIANTS="bare ga ga@old") runs that binary instead; its baseline is still this build's bare.
# A relative OLD_BIN is taken from the repository's root. BIN=path runs that binary as this build
# instead of building one (to compare two experiment builds).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
VARIANTS=${VARIANTS:-"bare ga work-bare work-ga hung refusing"}
CONNS=${CONNS:-64}
API_PORT=${API_PORT:-18080}
COLLECTOR_PORT=${COLLECTOR_PORT:-18090}
HUNG_PORT=${HUNG_PORT:-18091}
SLOW_PORT=${SLOW_PORT:-18092}
SLOW_MS=${SLOW_MS:-2}
WORK_US=${WORK_US:-100}
OUT=${OUT:-target/load}
URLS=${URLS:-same}
case $URLS in same | distinct) ;; *) echo "URLS must be same or distinct" >&2; exit 1 ;; esac
export URLS
MODE=${1:-load}
mkdir -p "$OUT"

log() { printf '%s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (apt)"
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-cache policy wrk | sed -n '1,3p' >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
    command -v wrk >/dev/null 2>&1 || { log "wrk is not available"; exit 1; }
fi
command -v taskset >/dev/null 2>&1 || { log "taskset (util-linux) is needed"; exit 1; }
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 cores; API and load generator will share one"

if [ -n "${BIN:-}" ]; then
    log "using BIN=$BIN (not building)"
else
    log "building examples/load_api (release)"
    cargo build --release --example load_api -q
    BIN=target/release/examples/load_api
fi

PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() { # port timeout_s
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "nothing listens on 127.0.0.1:$1"
    return 1
}

start_collector() { # port [--hang] -> pid
    local port=$1
    shift
    taskset -c 1 "$BIN" collector --port "$port" "$@" >"$OUT/collector-$port.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$port" 10
    echo "$pid"
}

# A loopback port with nothing listening on it (for the refusing collector).
closed_port() {
    local p
    for p in $(seq 18099 18199); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    return 1
}

# --- sender capacity -----------------------------------------------------------------------------
if [ "$MODE" = capacity ]; then
    start_collector "$COLLECTOR_PORT" >/dev/null
    for run in $(seq 1 "$ROUNDS"); do
        for pattern in batch distinct; do
            taskset -c 0 "$BIN" capacity --pattern "$pattern" --urls "$URLS" --collector "http://127.0.0.1:$COLLECTOR_PORT" |
                tee -a "$OUT/capacity.txt" | grep CAPACITY
        done
    done
    echo
    echo "## sender capacity: medians of $ROUNDS runs (sender thread on core 0, collector on core 1), URLS=$URLS"
    echo
    echo "| pattern | hits | hits/s (wall, to flush) | hits per sender-CPU-second | hits per request |"
    echo "|---|---|---|---|---|"
    for pattern in batch distinct; do
        grep "^CAPACITY pattern=$pattern " "$OUT/capacity.txt" | tail -n "$ROUNDS" | awk '
            function med(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
              n++; w[n] = v["hits_per_s"]; c[n] = v["hits_per_sender_cpu_s"]; b[n] = v["hits_per_batch"]; h = v["hits"]; p = v["pattern"] }
            END { printf "| %s | %s | %.0f | %.0f | %.1f |\n", p, h, med(w, n), med(c, n), med(b, n) }'
    done
    exit 0
fi

# --- load runs -----------------------------------------------------------------------------------
LUA="$OUT/consumers.lua"
cat >"$LUA" <<'EOF'
-- 100 API consumers: each request carries one of 100 bearer tokens. URLS=distinct: every request
-- a path of its own.
local headers = {}
local reqs = {}
local i = 0
local n = 0
local distinct = os.getenv("URLS") == "distinct"
function init(args)
    for k = 1, 100 do
        headers[k] = {
            ["Host"] = "api.example.com",
            ["User-Agent"] = "load-test/1.0 (wrk)",
            ["Referer"] = "https://app.example.com/dashboard",
            ["Authorization"] = string.format("Bearer consumer-token-%03d", k),
        }
        reqs[k] = wrk.format("GET", "/users/42?page=2&sort=desc", headers[k])
    end
end
function request()
    i = i % 100 + 1
    if distinct then
        n = n + 1
        return wrk.format("GET", "/users/" .. n .. "?page=2&sort=desc", headers[i])
    end
    return reqs[i]
end
function done(summary, latency, requests)
    io.write(string.format("WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d errors=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.max,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
EOF
# The flood: the same, but 9 of every 10 requests carry a token of their own.
FLOOD_LUA="$OUT/flood.lua"
sed -e 's/^function request()/function known_request()/' "$LUA" >"$FLOOD_LUA"
cat >>"$FLOOD_LUA" <<'EOF'
local fresh = 0
function request()
    fresh = fresh + 1
    if fresh % 10 == 0 then
        return known_request()
    end
    local h = headers[1]
    return wrk.format("GET", "/users/42?page=2&sort=desc", {
        ["Host"] = h["Host"], ["User-Agent"] = h["User-Agent"], ["Referer"] = h["Referer"],
        ["Authorization"] = string.format("Bearer flood-%d-%d", math.random(1e9), fresh),
    })
end
EOF

need_healthy=0
need_hung=0
need_slow=0
for v in $VARIANTS; do
    if [ "${v%@old}" != "$v" ] && [ ! -x "${OLD_BIN:-}" ]; then
        log "variant $v needs OLD_BIN, an older build of load_api (got '${OLD_BIN:-}')"
        exit 1
    fi
    case ${v%@old} in
    ga | work-ga | ga-spare | work-ga-spare) need_healthy=1 ;;
    hung | hung-flushing) need_hung=1 ;;
    flood) need_slow=1 ;;
    esac
done
[ $need_slow = 1 ] && start_collector "$SLOW_PORT" --sleep-ms "$SLOW_MS" >/dev/null
[ $need_healthy = 1 ] && start_collector "$COLLECTOR_PORT" >/dev/null
[ $need_hung = 1 ] && start_collector "$HUNG_PORT" --hang >/dev/null
REFUSING_PORT=$(closed_port)

# The handler's work, calibrated once: every work variant then spins exactly as many rounds.
WORK_ITERS=$(taskset -c 0 "$BIN" calibrate | awk -F= -v us="$WORK_US" '/^WORK_ITERS_PER_US=/ { printf "%d", $2 * us }')
log "work variants: $WORK_ITERS rounds of the work loop (~$WORK_US µs)"

RESULTS="$OUT/results.txt"
: >"$RESULTS"

# Moves the API's sender thread to core 1 (for the *-spare variants). The GA layer starts it when
# the router is built, before the API listens.
spare_sender() { # pid
    local t moved=0
    for t in /proc/"$1"/task/*; do
        if [ "$(cat "$t/comm")" = tower-ga-sender ]; then
            taskset -p -c 1 "${t##*/}" >/dev/null
            moved=1
        fi
    done
    [ $moved = 1 ] || { log "no tower-ga-sender thread in $1"; exit 1; }
}

run_one() { # round variant
    local round=$1 v=$2 collector=() bin=$BIN lua=$LUA
    local build=${v%@old}
    if [ "$build" != "$v" ]; then
        bin=${OLD_BIN:?"variant $v needs OLD_BIN"}
    fi
    local serve=${build%-spare}
    local run=$serve
    case $serve in
    ga | work-ga) collector=(--collector "http://127.0.0.1:$COLLECTOR_PORT") ;;
    hung | hung-flushing) collector=(--collector "http://127.0.0.1:$HUNG_PORT") ;;
    refusing) collector=(--collector "http://127.0.0.1:$REFUSING_PORT") ;;
    flood)
        collector=(--collector "http://127.0.0.1:$SLOW_PORT")
        lua=$FLOOD_LUA
        run=ga
        ;;
    esac
    local log="$OUT/api-$v-$round.log"
    taskset -c 0 "$bin" serve "$run" --port "$API_PORT" --work-us "$WORK_US" --work-iters "$WORK_ITERS" \
        "${collector[@]}" >"$log" 2>&1 &
    local pid=$!
    wait_port "$API_PORT" 20
    if [ "$serve" != "$build" ]; then
        spare_sender "$pid"
    fi
    if [ "$WARMUP" -gt 0 ]; then
        taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$lua" "http://127.0.0.1:$API_PORT" >/dev/null 2>&1 || true
    fi
    local res
    res=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$lua" "http://127.0.0.1:$API_PORT" | grep WRK_RESULT)
    local hwm cpu
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    # CPU time of the API's threads (ns on CPU, from schedstat): the sender's, and all of them.
    cpu=$(for t in /proc/"$pid"/task/*; do
        printf '%s %s\n' "$(cat "$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")"
    done | awk '{ all += $2 } /tower-ga-sender/ { s += $2 }
        END { printf "sender_cpu_ms=%d api_cpu_ms=%d", s / 1e6, all / 1e6 }')
    kill -TERM "$pid"
    wait "$pid" || true
    local stats
    stats=$(grep 'LOAD_STATS.*phase=end-of-load' "$log" | sed 's/.*phase=end-of-load //' || true)
    [ -n "$stats" ] || stats="tracked=0 sent=0 dropped=0 failed=0 pending=0"
    echo "RUN round=$round variant=$v ${res#WRK_RESULT } vmhwm_kb=$hwm $cpu $stats" | tee -a "$RESULTS" >&2
}

# Each round starts one variant later than the one before (bare, ga, hung; then ga, hung, bare;
# ...), so that no variant always runs first, right after the builds and the previous round.
read -r -a ORDER <<< "$VARIANTS"
for round in $(seq 1 "$ROUNDS"); do
    for k in "${!ORDER[@]}"; do
        run_one "$round" "${ORDER[$(( (k + round - 1) % ${#ORDER[@]} ))]}"
    done
done

# --- summary -------------------------------------------------------------------------------------
echo
echo "## load: ${DURATION}s per run (+${WARMUP}s warm-up), $ROUNDS rounds, wrk -t1 -c$CONNS, API on core 0, URLS=$URLS"
echo
echo "Ratios are medians over rounds of (variant / its baseline in the same round); baseline: bare,"
echo "or work-bare for work-ga; in brackets, with 6 rounds or more, a 95 % confidence interval for"
echo "that median (order statistics). Peak RSS is the API's VmHWM at the end of the run."
echo
echo "| variant | req/s (median) | ratio vs baseline | p99 ms (median) | p99 ratio | peak RSS MB (max) | RSS - baseline MB | sender CPU µs/hit | tracked | sent | dropped | failed | pending | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -v variants="$VARIANTS" '
    function med(a, n,   i, j, t, b) {
        for (i = 1; i <= n; i++) b[i] = a[i]
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
        return (n % 2) ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
    }
    # A 95 % confidence interval for the median of a[1..n], free of any assumption about how the
    # values are spread: the k-th smallest and k-th largest values, for the largest k such that
    # fewer than k of n values fall below the median with probability at most 2.5 % (binomial,
    # p = 1/2). Needs at least 6 values.
    function ci(a, n,   i, j, t, b, k, cdf, term) {
        if (n < 6) return ""
        for (i = 1; i <= n; i++) b[i] = a[i]
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
        term = 0.5 ^ n; cdf = term; k = 0
        for (i = 0; cdf <= 0.025; i++) { k = i + 1; term = term * (n - i) / (i + 1); cdf += term }
        return (k < 1) ? "" : sprintf(" (%.3f–%.3f)", b[k], b[n + 1 - k])
    }
    {
        delete v
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        key = v["variant"] SUBSEP v["round"]
        rps[key] = v["rps"]; p99[key] = v["p99_us"]; rss[key] = v["vmhwm_kb"]
        if (v["tracked"] > 0) per_hit[key] = v["sender_cpu_ms"] * 1000 / v["tracked"]
        for (f in v) last[v["variant"], f] = v[f]
        rounds[v["round"]] = 1
        sum_dropped[v["variant"]] += v["dropped"]; sum_sent[v["variant"]] += v["sent"]
        sum_tracked[v["variant"]] += v["tracked"]; sum_failed[v["variant"]] += v["failed"]
        sum_pending[v["variant"]] += v["pending"]; sum_err[v["variant"]] += v["errors"]
    }
    END {
        nv = split(variants, vs, " ")
        for (k = 1; k <= nv; k++) {
            x = vs[k]; base = (x ~ /^work/) ? "work-bare" : "bare"
            n = 0; nb = 0; maxrss = 0; maxbrss = 0
            delete a; delete r; delete p; delete pr; delete h; nh = 0
            for (rd in rounds) {
                if (!((x, rd) in rps)) continue
                n++; a[n] = rps[x, rd]; p[n] = p99[x, rd] / 1000
                if ((x, rd) in per_hit) { nh++; h[nh] = per_hit[x, rd] }
                if (rss[x, rd] > maxrss) maxrss = rss[x, rd]
                if ((base, rd) in rps) {
                    nb++; r[nb] = rps[x, rd] / rps[base, rd]; pr[nb] = p99[x, rd] / p99[base, rd]
                    if (rss[base, rd] > maxbrss) maxbrss = rss[base, rd]
                }
            }
            if (n == 0) continue
            printf "| %s | %.0f | %s | %.2f | %s | %.1f | %s | %s | %d | %d | %d | %d | %d | %d |\n", x, med(a, n),
                (nb ? sprintf("%.3f%s", med(r, nb), ci(r, nb)) : "-"), med(p, n), (nb ? sprintf("%.2f", med(pr, nb)) : "-"),
                maxrss / 1024, (nb ? sprintf("%+.1f", (maxrss - maxbrss) / 1024) : "-"),
                (nh ? sprintf("%.2f", med(h, nh)) : "-"),
                sum_tracked[x], sum_sent[x], sum_dropped[x], sum_failed[x], sum_pending[x], sum_err[x]
        }
    }' "$RESULTS"
echo
echo "(sender CPU µs/hit: the tower-ga-sender thread's CPU time over the hits tracked, warm-up included, median"
echo " over rounds; tracked/sent/dropped/failed/pending: the sender's counters at the end of each run, summed over rounds;"
echo " raw lines in $RESULTS, API logs in $OUT/api-*.log)"
