#!/usr/bin/env bash
# bench/run.sh -- Sokutatsu against Postfix on the shared relay benchmark, in one sitting.
#
#   smtp-source --(N msgs, C sessions)--> relay --(smarthost)--> smtp-sink 127.0.0.1:2526
#
# For each size and each run: Postfix plain (the reference, 127.0.0.1:2525), then Sokutatsu
# (127.0.0.1:2587, bench/sokutatsu-bench.yaml with a fresh dataDir), each measured by the
# harness's relay-bench.sh. Then the summary table and the Sokutatsu/Postfix ratios.
#
# Usage: bash bench/run.sh [options] [-- relay-bench options]   (npm run bench -- [options])
#   --messages N      messages per run (default 20000)
#   --sizes "S ..."   payload sizes in bytes (default "5120 102400")
#   --sessions C      parallel SMTP sessions (default 20)
#   --runs R          runs per relay and size (default 1)
#   --dkim            also run the DKIM variant: Postfix + OpenDKIM (the harness's dkim instance,
#                     127.0.0.1:2527) against Sokutatsu signing d=bench.example with its own
#                     RSA-2048 key (`domain add bench.example`), and report the signing cost
#   --throttle N      also run Sokutatsu with the bench's destination site (sink.example) limited
#                     to N messages per minute (delivery.throttle.sites), and report the rate
#                     achieved against the one configured (Postfix is not run for this variant)
#   --queued N        instead of the throughput runs: memory with N messages queued. Starts
#                     Sokutatsu, pauses the bench's site (sink.example) with `queue pause`, so
#                     nothing is delivered and no attempt is spent, injects N messages with
#                     smtp-source (size: --sizes, default 5120 here), waits until the queue
#                     holds all N and the workers have put every job aside, waits --settle s,
#                     then prints VmRSS/VmHWM of the primary, each worker and redis-server
#                     (also bench/results/bench-<UTC>-queued.csv). No Postfix, no sink, no root.
#   --settle S        with --queued: seconds to wait before measuring (default 30)
#   --rewrite         instead of the relay runs: throughput of the tracking rewrite of HTML
#                     (MB/s, one core; bench/rewrite-throughput.ts), so it never becomes the bottleneck
#   --skip-postfix    measure Sokutatsu only (no ratios)
#   --only-postfix    measure Postfix only (no build, no Sokutatsu)
#   --csv FILE        append result rows here (default bench/results/bench-<UTC time>.csv)
#   -h, --help
#   Anything after `--` is passed to every relay-bench.sh call (e.g. -- -t 1200).
# Environment: BENCH_HARNESS (default ../shared/bench, relative to the repo),
#   BENCH_SOKUTATSU=dist|tsx (dist: `npm run build` once, then node dist/cli.js; tsx: run
#   src/cli.ts through tsx, no build), BENCH_START_TIMEOUT (60 s to /healthz and the SMTP
#   banner), BENCH_STOP_TIMEOUT (60 s after SIGTERM, then SIGKILL), BENCH_KEEP=1 (keep the
#   work directory with the generated configs and dataDirs).
# Output: progress lines, relay-bench's figures, summary table; files in bench/results/
#   (CSV, this run's log, Sokutatsu's log per run). Exit 0 only if every run succeeded.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${BENCH_HARNESS:-$REPO/../shared/bench}"
RUNNER="${BENCH_SOKUTATSU:-dist}"
START_TIMEOUT="${BENCH_START_TIMEOUT:-60}"
STOP_TIMEOUT="${BENCH_STOP_TIMEOUT:-60}"
KEEP="${BENCH_KEEP:-0}"
CONFIG_TEMPLATE="$REPO/bench/sokutatsu-bench.yaml"
RESULTS_DIR="$REPO/bench/results"

# Ports: they must match bench/sokutatsu-bench.yaml and the harness's Postfix instance.
SINK_PORT=2526
PF_PORT=2525
PF_DKIM_PORT=2527
SOK_SMTP_PORT=2587
SOK_HTTP_PORT=8025
SOK_PORTS="2587 2465 2025 8025"

MESSAGES=20000
SIZES="5120 102400"
SESSIONS=20
RUNS=1
DO_POSTFIX=1
DO_SOKUTATSU=1
VARIANTS=(plain)
THROTTLE=0
QUEUED=0
REWRITE=0
SETTLE=30
SIZES_GIVEN=0
CSV=""
EXTRA=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
say() { echo "== bench: $*"; }
warn() { echo "== bench: warning: $*" >&2; }
die() { echo "== bench: error: $*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --messages) MESSAGES=${2:?}; shift 2;;
    --sizes) SIZES=${2:?}; SIZES_GIVEN=1; shift 2;;
    --sessions) SESSIONS=${2:?}; shift 2;;
    --runs) RUNS=${2:?}; shift 2;;
    --dkim) VARIANTS=(plain dkim); [[ $THROTTLE != 0 ]] && VARIANTS+=(throttled); shift;;
    --throttle) THROTTLE=${2:?}; VARIANTS+=(throttled); shift 2;;
    --queued) QUEUED=${2:?}; shift 2;;
    --settle) SETTLE=${2:?}; shift 2;;
    --rewrite) REWRITE=1; shift;;
    --skip-postfix) DO_POSTFIX=0; shift;;
    --only-postfix) DO_SOKUTATSU=0; shift;;
    --csv) CSV=${2:?}; shift 2;;
    -h|--help) usage; exit 0;;
    --) shift; EXTRA=("$@"); break;;
    *) usage >&2; echo >&2; die "unknown option '$1'";;
  esac
done
if ((REWRITE)); then
  say "tracking rewrite throughput (npx tsx bench/rewrite-throughput.ts)"
  cd "$REPO" && exec npx tsx bench/rewrite-throughput.ts
fi
[[ $THROTTLE =~ ^[0-9]+$ ]] || die "--throttle must be a whole number of messages per minute, got '$THROTTLE'"
[[ $QUEUED =~ ^[0-9]+$ ]] || die "--queued must be a whole number of messages, got '$QUEUED'"
[[ $SETTLE =~ ^[0-9]+$ ]] || die "--settle must be a whole number of seconds, got '$SETTLE'"
if ((QUEUED)); then
  # Memory, not throughput: Sokutatsu only, one plain run per size and run.
  ((DO_SOKUTATSU)) || die "--queued measures Sokutatsu: it cannot be combined with --only-postfix"
  [[ ${VARIANTS[*]} == plain ]] || die "--queued cannot be combined with --dkim or --throttle"
  DO_POSTFIX=0
  ((SIZES_GIVEN)) || SIZES=5120
fi
for v in MESSAGES SESSIONS RUNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a whole number > 0, got '${!v}'"
done
read -r -a SIZE_LIST <<<"$SIZES"
((${#SIZE_LIST[@]})) || die "--sizes is empty"
for s in "${SIZE_LIST[@]}"; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "--sizes: '$s' is not a byte count"; done
((DO_POSTFIX || DO_SOKUTATSU)) || die "--skip-postfix and --only-postfix leave nothing to run"
[[ $RUNNER == dist || $RUNNER == tsx ]] || die "BENCH_SOKUTATSU must be dist or tsx, got '$RUNNER'"
if ((QUEUED)); then
  command -v smtp-source >/dev/null || die "smtp-source missing: apt-get install -y postfix"
else
  [[ -x $HARNESS/relay-bench.sh && -x $HARNESS/postfix-bench.sh ]] \
    || die "benchmark harness not found at $HARNESS (set BENCH_HARNESS)"
  HARNESS="$(cd "$HARNESS" && pwd)"
fi
command -v node >/dev/null || die "node not found"
command -v curl >/dev/null || die "curl not found (apt-get install -y curl)"
if ((DO_POSTFIX)); then ((EUID == 0)) || die "Postfix needs root (or run with --skip-postfix)"; fi
if ((DO_SOKUTATSU)); then
  command -v redis-server >/dev/null || die "redis-server not on PATH (Sokutatsu's embedded Redis)"
  grep -q '^dataDir:' "$CONFIG_TEMPLATE" || die "$CONFIG_TEMPLATE needs a 'dataDir:' line"
  ((SESSIONS <= 45)) || warn "--sessions $SESSIONS: Sokutatsu's smtp.limits.maxConnectionsPerIp (default 50) may refuse sessions; raise it in $CONFIG_TEMPLATE"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS_DIR"
[[ -n $CSV ]] || CSV="$RESULTS_DIR/bench-$STAMP.csv"
mkdir -p "$(dirname "$CSV")"
CSV="$(cd "$(dirname "$CSV")" && pwd)/$(basename "$CSV")"
LOG="$RESULTS_DIR/bench-$STAMP.log"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sokutatsu-bench.XXXXXX")
RESULTS="$WORK/results.txt"   # the RESULT lines of this invocation: the ratios come from these
: >"$RESULTS"

PF="$HARNESS/postfix-bench.sh"
PF_UP=""       # the Postfix instance (plain|dkim) we started and have not stopped yet
SOK_PID=""     # the Sokutatsu node process while it runs
SOK_TREE=()    # "pid:starttime" of its descendants (redis-server), to stop any it leaves behind
RB_PID=""      # relay-bench.sh while it runs, and the tail that shows its output
TAIL_PID=""
SRC_PID=""     # smtp-source while it injects (--queued)
SOK_CFG=""     # the config the running Sokutatsu was started with (for CLI commands)

# ------------------------------------------------------------------------------ processes
# "pid:starttime" of every live descendant of $1 (the start time tells a reused PID apart).
descendants() {
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    proc_id "$c" || true
    descendants "$c"
  done
  return 0
}
proc_id() { # print "pid:starttime"; fail if the process is gone or a zombie
  local stat f
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  read -r -a f <<<"${stat##*) }"   # f[0] = state (field 3), f[19] = starttime (field 22)
  [[ ${f[0]} != Z ]] || return 1
  echo "$1:${f[19]}"
}
running() { proc_id "$1" >/dev/null; }                              # running PID
still_running() { [[ $(proc_id "${1%%:*}" 2>/dev/null) == "$1" ]]; }  # that very process
comm_of() { cat /proc/"$1"/comm 2>/dev/null || echo '?'; }
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

remember_tree() { # add SOK_PID's current descendants to SOK_TREE
  local d
  for d in $(descendants "$SOK_PID"); do
    [[ " ${SOK_TREE[*]} " == *" $d "* ]] || SOK_TREE+=("$d")
  done
}

stop_sokutatsu() { # SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL; reap; stop leftovers
  [[ -n $SOK_PID ]] || return 0
  local pid=$SOK_PID i d left
  remember_tree
  if running "$pid"; then
    say "stopping Sokutatsu (pid $pid, SIGTERM; SIGKILL after ${STOP_TIMEOUT}s)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      warn "Sokutatsu (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
      remember_tree
      kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    say "Sokutatsu (pid $pid) has already exited"
  fi
  wait "$pid" 2>/dev/null || true
  SOK_PID=""
  # Whatever it started (redis-server) must be gone with it: give it 10 s to follow, then
  # SIGTERM, 10 s more, then SIGKILL -- only these PIDs, checked against their start time.
  local sig
  for sig in none TERM KILL; do
    for d in "${SOK_TREE[@]}"; do
      still_running "$d" || continue
      [[ $sig == none ]] && continue
      warn "Sokutatsu's child $(comm_of "${d%%:*}") (pid ${d%%:*}) outlived it: SIG$sig"
      kill -"$sig" "${d%%:*}" 2>/dev/null || true
    done
    [[ $sig == KILL ]] && break
    for ((i = 0; i < 100; i++)); do
      left=0
      for d in "${SOK_TREE[@]}"; do still_running "$d" && left=1; done
      ((left)) || break 2
      sleep 0.1
    done
  done
  SOK_TREE=()
}

stop_relay_bench() { # relay-bench stops its sink and load generator on SIGTERM (within ~15 s)
  local i
  [[ -n $RB_PID ]] || return 0
  if running "$RB_PID"; then
    kill -TERM "$RB_PID" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do running "$RB_PID" || break; sleep 0.1; done
  fi
  if running "$RB_PID"; then
    warn "relay-bench (pid $RB_PID) did not stop; its sink may still listen on :$SINK_PORT"
    kill -TERM "$TAIL_PID" 2>/dev/null || true
  else
    wait "$RB_PID" 2>/dev/null || true
  fi
  wait "$TAIL_PID" 2>/dev/null || true   # tail ends by itself once relay-bench is gone
  RB_PID=""; TAIL_PID=""
}

stop_source() { # smtp-source of --queued, if it still runs
  [[ -n $SRC_PID ]] || return 0
  if running "$SRC_PID"; then kill -TERM "$SRC_PID" 2>/dev/null || true; fi
  wait "$SRC_PID" 2>/dev/null || true
  SRC_PID=""
}

stop_postfix() {
  [[ -n $PF_UP ]] || return 0
  say "purging and stopping Postfix $PF_UP"
  "$PF" purge "$PF_UP" || true
  "$PF" stop "$PF_UP" || true
  PF_UP=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  ((rc == 130 || rc == 143)) && warn "interrupted: stopping what this script started"
  stop_relay_bench
  stop_source
  stop_sokutatsu
  stop_postfix
  if ((KEEP)); then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  # Let tee write the last lines before we return to the caller.
  if [[ -n ${TEE_PID:-} ]]; then
    exec >&- 2>&-
    for ((i = 0; i < 50; i++)); do kill -0 "$TEE_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything we print also goes to the log. tee ignores INT/TERM so that it outlives a Ctrl-C
# and still shows the cleanup; it ends when this script closes its output.
exec > >(trap '' INT TERM; exec tee -a "$LOG") 2>&1
TEE_PID=$!

# ------------------------------------------------------------------------------ runs
size_tag() { if (($1 % 1024 == 0)); then echo "$(($1 / 1024))k"; else echo "${1}b"; fi; }
FAILED=0

relay_bench() { # relay_bench LABEL SIZE TARGET_PORT RELAY_PIDS
  # In the background, so that a signal to this script is handled at once (a foreground
  # child would delay the trap until it ends); cleanup() then stops it with SIGTERM, and
  # relay-bench stops its sink and smtp-source. tail shows its output as it comes.
  local out="$WORK/relay-bench.out" rc=0
  "$HARNESS/relay-bench.sh" -n "$MESSAGES" -s "$2" -c "$SESSIONS" --relay-pid "$4" \
    --label "$1" --csv "$CSV" "${EXTRA[@]}" "127.0.0.1:$3" "$SINK_PORT" >"$out" 2>&1 &
  RB_PID=$!
  tail -n +1 -s 0.2 -f --pid="$RB_PID" "$out" &
  TAIL_PID=$!
  wait "$RB_PID" || rc=$?
  RB_PID=""
  wait "$TAIL_PID" || true
  TAIL_PID=""
  grep '^RESULT ' "$out" >>"$RESULTS" || true
  if ((rc != 0)); then FAILED=$((FAILED + 1)); warn "run $1 failed (relay-bench exit $rc)"; fi
  return 0
}

run_postfix() { # run_postfix SIZE RUN VARIANT (plain | dkim: OpenDKIM milter on :2527)
  local label port=$PF_PORT
  [[ $3 == dkim ]] && port=$PF_DKIM_PORT
  label="postfix-$3-$(size_tag "$1")"
  say "$label run $2/$RUNS: starting Postfix $3 (127.0.0.1:$port)"
  [[ $3 == dkim ]] && "$PF" setup dkim >/dev/null
  "$PF" purge "$3"
  PF_UP=$3
  "$PF" start "$3"
  relay_bench "$label" "$1" "$port" "$("$PF" pids "$3" | tr ' ' ',')"
  echo "   Postfix queue after the run: $("$PF" queue "$3") message(s)"
  stop_postfix
}

sokutatsu_cmd() {
  if [[ $RUNNER == dist ]]; then echo node "$REPO/dist/cli.js"
  else echo node "$REPO/node_modules/tsx/dist/cli.mjs" "$REPO/src/cli.ts"; fi
}

build_sokutatsu() {
  if [[ $RUNNER == dist ]]; then
    say "building Sokutatsu (npm run build)"
    (cd "$REPO" && npm run build) || die "npm run build failed"
    [[ -f $REPO/dist/cli.js ]] || die "npm run build did not produce dist/cli.js"
  else
    [[ -f $REPO/node_modules/tsx/dist/cli.mjs ]] || die "tsx not installed (npm ci)"
    [[ -f $REPO/src/cli.ts ]] || die "src/cli.ts not found"
  fi
}

smtp_banner_ok() { # a 220 greeting on 127.0.0.1:$1
  local line="" fd
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  read -r -t 5 -u "$fd" line || true
  printf 'QUIT\r\n' >&"$fd" 2>/dev/null || true
  exec {fd}>&-
  [[ $line == 220* ]]
}

start_sokutatsu() { # start_sokutatsu LABEL RUN VARIANT: background, fresh dataDir, wait until ready
  local data="$WORK/data-$1-$2" cfg="$WORK/sokutatsu-$1-$2.yaml"
  local slog="$RESULTS_DIR/bench-$STAMP-$1-$2.log" p cmd
  for p in $SOK_PORTS; do
    port_busy "$p" && die "port $p is already in use: stop what listens there (an earlier Sokutatsu?)"
  done
  mkdir -p "$data"
  sed "s|^dataDir:.*$|dataDir: \"$data\"|" "$CONFIG_TEMPLATE" >"$cfg"
  grep -qx "dataDir: \"$data\"" "$cfg" || die "could not set dataDir in $cfg"
  read -r -a cmd <<<"$(sokutatsu_cmd)"
  SOK_CFG=$cfg
  if [[ $3 == throttled ]]; then
    # relay-bench sends every message to rcpt@sink.example: a routed domain is its own site.
    sed -i "s|^delivery:$|delivery:\n  throttle: { sites: { \"sink.example\": { perMinute: $THROTTLE } } }|" "$cfg"
    grep -q "perMinute: $THROTTLE" "$cfg" || die "could not set the throttle in $cfg"
  fi
  if [[ $3 == dkim ]]; then
    say "$1: sending domain bench.example with an RSA-2048 key (domain add)"
    (cd "$REPO" && env -u SOKUTATSU_REDIS_URL -u SOKUTATSU_CONFIG \
      "${cmd[@]}" domain add bench.example --selector bench --key rsa2048 --json --config "$cfg" >/dev/null) \
      || die "domain add bench.example failed"
  fi
  say "$1 run $2/$RUNS: starting Sokutatsu (${cmd[*]} start --config $cfg; log $slog)"
  # env -u: the environment must not point Sokutatsu at another config or an external Redis
  # (whose CPU the figures would miss). `env` execs node, so $! is the node process itself.
  (cd "$REPO" && exec env -u SOKUTATSU_REDIS_URL -u SOKUTATSU_CONFIG \
    "${cmd[@]}" start --config "$cfg" >"$slog" 2>&1) &
  SOK_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT)) ready=0 rc=0
  while ((SECONDS < deadline)); do
    if ! running "$SOK_PID"; then
      wait "$SOK_PID" 2>/dev/null || rc=$?
      SOK_PID=""
      tail -n 30 "$slog" >&2
      die "Sokutatsu exited during start-up (exit $rc); log: $slog"
    fi
    if curl -fsS --noproxy "*" -o /dev/null --max-time 2 "http://127.0.0.1:$SOK_HTTP_PORT/healthz" 2>/dev/null \
        && smtp_banner_ok "$SOK_SMTP_PORT"; then
      ready=1; break
    fi
    sleep 0.2
  done
  if ((!ready)); then
    tail -n 30 "$slog" >&2
    die "Sokutatsu not ready within ${START_TIMEOUT}s (/healthz on :$SOK_HTTP_PORT and SMTP 220 on :$SOK_SMTP_PORT); log: $slog"
  fi
  remember_tree
  local kids="" d
  for d in "${SOK_TREE[@]}"; do kids+=" $(comm_of "${d%%:*}")(${d%%:*})"; done
  say "Sokutatsu ready: pid $SOK_PID, children:${kids:- none}"
  [[ $kids == *redis-server* ]] \
    || warn "no redis-server among Sokutatsu's child processes: the relay CPU figure may leave Redis out"
}

run_sokutatsu() { # run_sokutatsu SIZE RUN VARIANT
  local label
  label="sokutatsu-$(label_variant "$3")$(size_tag "$1")"
  start_sokutatsu "$label" "$2" "$3"
  # The process tree of the node PID covers the embedded redis-server (its child).
  relay_bench "$label" "$1" "$SOK_SMTP_PORT" "$SOK_PID"
  stop_sokutatsu
  ((KEEP)) || rm -rf "$WORK/data-$label-$2"
}

# ------------------------------------------------------------------------------ --queued
nap() { sleep "$1" & wait $!; }   # a sleep that a signal interrupts (a foreground one delays the trap)

sokutatsu_cli() { # sokutatsu_cli ARGS...: a CLI command against the running instance (its config)
  local cmd
  read -r -a cmd <<<"$(sokutatsu_cmd)"
  (cd "$REPO" && env -u SOKUTATSU_REDIS_URL -u SOKUTATSU_CONFIG "${cmd[@]}" "$@" --config "$SOK_CFG")
}

queue_counts() { # "waiting active delayed failed" from `queue stats --json`
  sokutatsu_cli queue stats --json 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const c = JSON.parse(s); console.log(c.waiting, c.active, c.delayed, c.failed);
    });'
}

ppid_of() { local stat f; read -r stat 2>/dev/null <"/proc/$1/stat" || return 1; read -r -a f <<<"${stat##*) }"; echo "${f[1]}"; }
status_kb() { # status_kb PID FIELD: a field of /proc/PID/status in kB, "-" when gone
  [[ -r /proc/$1/status ]] || { echo -; return 0; }
  awk -v f="$2:" '$1 == f { v = $2 } END { print v == "" ? "-" : v }' "/proc/$1/status" 2>/dev/null || echo -
}
pss_kb() { awk '$1 == "Pss:" { v = $2 } END { print v == "" ? "-" : v }' "/proc/$1/smaps_rollup" 2>/dev/null || echo -; }
mb() { [[ $1 == - ]] && echo - || awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

memory_roles() { # "role pid" lines: primary, worker (each), redis-server, other (e.g. a tsx launcher)
  local pids=("$SOK_PID") d p primary="$SOK_PID"
  for d in $(descendants "$SOK_PID"); do pids+=("${d%%:*}"); done
  # The primary is the node process whose child is the embedded redis-server (with tsx, the
  # node PID we started is only a launcher).
  for p in "${pids[@]}"; do [[ $(comm_of "$p") == redis-server ]] && primary=$(ppid_of "$p"); done
  for p in "${pids[@]}"; do
    if [[ $p == "$primary" ]]; then echo "primary $p"
    elif [[ $(comm_of "$p") == redis-server ]]; then echo "redis-server $p"
    elif [[ $(ppid_of "$p") == "$primary" && $(comm_of "$p") == node* ]]; then echo "worker $p"
    else echo "other:$(comm_of "$p") $p"; fi
  done
}

metric_mb() { local v; v=$(metric_sum "$@"); [[ $v == - ]] && echo - || awk -v b="$v" 'BEGIN { printf "%.0f", b / 1048576 }'; }
metric_sum() { # metric_sum TEXT NAME: the sum of the samples of one metric in /metrics text
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f", s; else print "-" }' <<<"$1"
}

run_queued() { # run_queued SIZE RUN: memory of Sokutatsu with QUEUED messages waiting for a paused site
  local size=$1 label rc=0 t0 intake_s counts w a dl f total i deadline qcsv metrics
  label="sokutatsu-queued-$(size_tag "$size")"
  start_sokutatsu "$label" "$2" plain
  # Routed mail's site is the recipient domain (src/delivery/sites.ts): smtp-source sends to
  # N rcpt@sink.example. Paused, every job is put aside as "delayed" without an attempt.
  sokutatsu_cli queue pause sink.example --minutes 180 --reason "bench --queued" >/dev/null \
    || die "queue pause sink.example failed"
  nap 2   # the workers learn of the pause within a second (SiteThrottle.watch)
  say "$label run $2/$RUNS: injecting $QUEUED messages of $size B with smtp-source ($SESSIONS sessions); sink.example is paused"
  t0=$EPOCHREALTIME
  smtp-source -s "$SESSIONS" -m "$QUEUED" -l "$size" -N -M bench-client.localdomain -d \
    -f sender@bench.example -t rcpt@sink.example -S "bench --queued $size B" \
    "127.0.0.1:$SOK_SMTP_PORT" >"$WORK/source.out" 2>"$WORK/source.err" &
  SRC_PID=$!
  wait "$SRC_PID" || rc=$?
  SRC_PID=""
  intake_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if ((rc != 0)); then
    tail -n 5 "$WORK/source.err" >&2
    FAILED=$((FAILED + 1)); warn "smtp-source failed (exit $rc) after ${intake_s}s"
    stop_sokutatsu; return 0
  fi
  say "intake: $QUEUED messages in ${intake_s}s ($(awk -v n="$QUEUED" -v s="$intake_s" 'BEGIN { printf "%.0f", n / s }') msg/s); waiting until every job is queued and put aside"
  deadline=$((SECONDS + ${BENCH_QUEUE_TIMEOUT:-600}))
  while :; do
    counts=$(queue_counts) || counts=""
    read -r w a dl f <<<"${counts:-- - - -}"
    if [[ $w =~ ^[0-9]+$ ]]; then
      total=$((w + a + dl))
      ((total >= QUEUED && w == 0 && a == 0)) && break
    fi
    if ((SECONDS >= deadline)); then
      FAILED=$((FAILED + 1)); warn "queue not settled after ${BENCH_QUEUE_TIMEOUT:-600}s: waiting $w, active $a, delayed $dl, failed $f"
      stop_sokutatsu; return 0
    fi
    nap 2
  done
  say "queue: waiting $w, active $a, delayed $dl, failed $f; settling ${SETTLE}s"
  nap "$SETTLE"

  # VmRSS is what the requirement counts; it includes the node binary's file pages, which the
  # processes share (Pss divides shared pages among their users, so Pss sums to what they take).
  qcsv="$RESULTS_DIR/bench-$STAMP-queued.csv"
  [[ -s $qcsv ]] || echo "stamp,label,run,queued,size,settle_s,intake_s,process,pid,vmrss_kb,vmhwm_kb,rssanon_kb,pss_kb" >"$qcsv"
  local role pid rss hwm anon pss node_rss=0 node_hwm=0 node_pss=0 redis_rss=- redis_hwm=- workers=()
  printf '   %-14s %8s %10s %10s %10s %10s\n' process pid "VmRSS MB" "VmHWM MB" "RssAnon MB" "Pss MB"
  while read -r role pid; do
    rss=$(status_kb "$pid" VmRSS); hwm=$(status_kb "$pid" VmHWM); anon=$(status_kb "$pid" RssAnon); pss=$(pss_kb "$pid")
    printf '   %-14s %8s %10s %10s %10s %10s\n' "$role" "$pid" "$(mb "$rss")" "$(mb "$hwm")" "$(mb "$anon")" "$(mb "$pss")"
    echo "$STAMP,$label,$2,$QUEUED,$size,$SETTLE,$intake_s,$role,$pid,$rss,$hwm,$anon,$pss" >>"$qcsv"
    [[ $rss == - ]] && continue
    case $role in
      primary|worker)
        node_rss=$((node_rss + rss)); node_hwm=$((node_hwm + hwm)); [[ $pss == - ]] || node_pss=$((node_pss + pss))
        [[ $role == worker ]] && workers+=("$(mb "$rss")");;
      redis-server) redis_rss=$rss; redis_hwm=$hwm;;
    esac
  done < <(memory_roles)
  printf '   %-14s %8s %10s %10s %10s %10s\n' "node total" "" "$(mb "$node_rss")" "$(mb "$node_hwm")" "" "$(mb "$node_pss")"
  echo "$STAMP,$label,$2,$QUEUED,$size,$SETTLE,$intake_s,node-total,,$node_rss,$node_hwm,,$node_pss" >>"$qcsv"
  # What the workers' V8 heaps hold (prom-client's default metrics, summed over the workers).
  metrics=$(curl -fsS --noproxy "*" --max-time 10 "http://127.0.0.1:$SOK_HTTP_PORT/metrics" 2>/dev/null) || metrics=""
  if [[ -n $metrics ]]; then
    echo "   workers together (/metrics): V8 heap used $(metric_mb "$metrics" sokutatsu_process_nodejs_heap_size_used_bytes) MB" \
      "of $(metric_mb "$metrics" sokutatsu_process_nodejs_heap_size_total_bytes) MB, external $(metric_mb "$metrics" sokutatsu_process_nodejs_external_memory_bytes) MB;" \
      "delivery attempts $(metric_sum "$metrics" sokutatsu_deliveries_total | sed 's/^-$/0/') (0 expected), site waits $(metric_sum "$metrics" sokutatsu_delivery_waits_total)"
  else
    warn "could not read http://127.0.0.1:$SOK_HTTP_PORT/metrics"
  fi
  echo "RESULT label=$label run=$2 status=ok queued=$QUEUED size=$size settle_s=$SETTLE intake_s=$intake_s node_rss_mb=$(mb "$node_rss") node_hwm_mb=$(mb "$node_hwm") node_pss_mb=$(mb "$node_pss") worker_rss_mb=$(IFS=+; echo "${workers[*]}") redis_rss_mb=$(mb "$redis_rss") redis_hwm_mb=$(mb "$redis_hwm")" | tee -a "$RESULTS"
  stop_sokutatsu
  ((KEEP)) || rm -rf "$WORK/data-$label-$2"
}

# ------------------------------------------------------------------------------ ratios
# Median of KEY over the ok RESULT lines labelled LABEL ("-" when none). KEY cpu_ms_per_msg
# is relay_cpu_s * 1000 / messages.
median_of() {
  awk -v label="$1" -v key="$2" '
    $1 == "RESULT" {
      delete r
      for (i = 2; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); r[k] = v }
      if (r["status"] != "ok" || r["label"] != label) next
      v = key == "cpu_ms_per_msg" ? (r["relay_cpu_s"] ~ /^[0-9.]+$/ ? 1000 * r["relay_cpu_s"] / r["messages"] : "") : r[key]
      if (v ~ /^[0-9.]+$/ && v + 0 > 0) x[n++] = v + 0
    }
    END {
      if (!n) { print "-"; exit }
      for (i = 1; i < n; i++) for (j = i; j > 0 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
      printf "%.4f\n", n % 2 ? x[int(n / 2)] : (x[n / 2 - 1] + x[n / 2]) / 2
    }' "$RESULTS"
}

# Sokutatsu's labels keep their historic form for plain ("sokutatsu-5k"); "sokutatsu-dkim-5k" otherwise.
label_variant() { [[ $1 == plain ]] || echo "$1-"; }

ratio_line() { # ratio_line TAG VARIANT WHAT KEY [NOTE]
  ratio_of "$1" "$3" "$4" "sokutatsu-$(label_variant "$2")$1" "postfix-$2-$1" "${5:-}"
}

ratio_of() { # ratio_of TAG WHAT KEY LABEL_A LABEL_B [NOTE]
  local a b r
  a=$(median_of "$4" "$3"); b=$(median_of "$5" "$3")
  if [[ $a == - || $b == - ]]; then r="n/a (no successful run of both)"
  else r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'); fi
  echo "[$1] ratio $2 ${4%-"$1"}/${5%-"$1"} = $r${6:+  ($6)}"
}

# ------------------------------------------------------------------------------ main
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); Node $(node -v)"
if ((QUEUED)); then
  say "$STAMP: memory with $QUEUED messages queued, sizes [${SIZE_LIST[*]}], $SESSIONS sessions, $RUNS run(s), settle ${SETTLE}s; log $LOG"
  build_sokutatsu
  for size in "${SIZE_LIST[@]}"; do
    for ((run = 1; run <= RUNS; run++)); do run_queued "$size" "$run"; done
  done
  say "memory rows: $RESULTS_DIR/bench-$STAMP-queued.csv; log $LOG; failed runs: $FAILED"
  ((FAILED == 0))
  exit
fi
say "$STAMP: $MESSAGES msgs, sizes [${SIZE_LIST[*]}], $SESSIONS sessions, $RUNS run(s); postfix=$DO_POSTFIX sokutatsu=$DO_SOKUTATSU"
say "harness $HARNESS; CSV $CSV; log $LOG"
port_busy "$SINK_PORT" && die "sink port $SINK_PORT is already in use: stop what listens there"
if ((DO_POSTFIX)) && "$PF" status dkim 2>/dev/null | grep -q 'postfix-dkim: running'; then
  warn "the Postfix dkim instance is running: it takes CPU during the runs (stop it: $PF stop dkim)"
fi
if ((DO_SOKUTATSU)); then build_sokutatsu; fi

for size in "${SIZE_LIST[@]}"; do
  for ((run = 1; run <= RUNS; run++)); do
    for variant in "${VARIANTS[@]}"; do
      if ((DO_POSTFIX)) && [[ $variant != throttled ]]; then run_postfix "$size" "$run" "$variant"; fi
      if ((DO_SOKUTATSU)); then run_sokutatsu "$size" "$run" "$variant"; fi
    done
  done
done

say "summary ($CSV)"
node "$HARNESS/tools/summarize.mjs" "$CSV"
if ((DO_POSTFIX && DO_SOKUTATSU)); then
  say "ratios (medians of this invocation's successful runs; > 1 is faster than Postfix)"
  for size in "${SIZE_LIST[@]}"; do
    tag=$(size_tag "$size")
    for variant in "${VARIANTS[@]}"; do
      [[ $variant == throttled ]] && continue
      ratio_line "$tag" "$variant" end-to-end e2e_rate
      ratio_line "$tag" "$variant" intake intake_rate
      ratio_line "$tag" "$variant" "relay CPU ms/msg" cpu_ms_per_msg "lower is better"
    done
  done
fi
if ((DO_SOKUTATSU)) && [[ ${VARIANTS[*]} == *dkim* ]]; then
  say "signing cost (Sokutatsu with DKIM / without)"
  for size in "${SIZE_LIST[@]}"; do
    tag=$(size_tag "$size")
    ratio_of "$tag" end-to-end e2e_rate "sokutatsu-dkim-$tag" "sokutatsu-$tag"
    ratio_of "$tag" "relay CPU ms/msg" cpu_ms_per_msg "sokutatsu-dkim-$tag" "sokutatsu-$tag" "lower is better"
  done
fi
if ((DO_SOKUTATSU)) && [[ ${VARIANTS[*]} == *throttled* ]]; then
  say "throttled site (sink.example at $THROTTLE/min = $(awk -v n="$THROTTLE" 'BEGIN { printf "%.2f", n / 60 }') msg/s)"
  for size in "${SIZE_LIST[@]}"; do
    tag=$(size_tag "$size")
    e2e=$(median_of "sokutatsu-throttled-$tag" e2e_rate); intake=$(median_of "sokutatsu-throttled-$tag" intake_rate)
    echo "[$tag] throttled: intake $intake msg/s, end-to-end $e2e msg/s = $(awk -v a="$e2e" -v n="$THROTTLE" 'BEGIN { if (a == "-") print "n/a"; else printf "%.3f", a * 60 / n }') of the configured rate (must not exceed ~1.0)"
  done
fi
say "CSV $CSV; log $LOG; failed runs: $FAILED"
((FAILED == 0))
