#!/usr/bin/env bash
# Runs the interop scenarios N times in a row and prints, per scenario, how many runs passed
# and the figures of the runs that failed: a flaky scenario shows up here long before it turns
# a CI run red. Not part of scripts/test.sh (it takes N times as long).
#
#   scripts/soak.sh [-n N] [--hog] [--out DIR] [-- CARGO_TEST_ARGS...]
#
#   -n N        runs (default 20)
#   --hog       a busy loop pinned to CPU 1 for the whole soak, so that the daemons, the
#               traffic and the test harness share one core less and every timing shifts
#   --out DIR   keep every run's output and scenario lines there (default: a new /tmp dir)
#   -- ARGS     passed to `cargo test -p nvesec-interop`, e.g. `-- --test scenario_rekey`
#
# Exit status: 0 when every scenario passed every run, 1 otherwise.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$NVESEC_ROOT"

runs=20
hog=0
out=""
while [ $# -gt 0 ]; do
    case $1 in
        -n) runs=$2; shift 2 ;;
        --hog) hog=1; shift ;;
        --out) out=$2; shift 2 ;;
        --) shift; break ;;
        *) die "usage: $0 [-n N] [--hog] [--out DIR] [-- CARGO_TEST_ARGS...]" ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number, got '$runs'"
require_root "scripts/soak.sh"
install_deps
out=${out:-$(mktemp -d /tmp/nvesec-soak.XXXXXX)}
mkdir -p "$out"

hog_pid=""
cleanup() { [ -z "$hog_pid" ] || kill "$hog_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

log "building the interop suite"
cargo test -p nvesec-interop --no-run "$@" >"$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    die "build failed"
}
if [ "$hog" = 1 ]; then
    # One core busy at 100 % all along (nproc is 2 here): the scenarios keep the other.
    taskset -c "$(($(nproc) - 1))" bash -c 'while :; do :; done' &
    hog_pid=$!
    log "CPU hog on core $(($(nproc) - 1)) (pid $hog_pid)"
fi

for i in $(seq 1 "$runs"); do
    export NVESEC_SCENARIO_LOG="$out/run$i.scenarios"
    # Scenarios that save their daemons' logs put them here (support_dyn::save_logs).
    export NVESEC_SCENARIO_LOGDIR="$out/run$i.logs"
    : >"$NVESEC_SCENARIO_LOG"
    start=$(date +%s)
    status=0
    # Bounded: one run of the whole suite takes minutes; an hour means a hang.
    timeout --kill-after=30 3600 \
        cargo test -p nvesec-interop --no-fail-fast "$@" -- --test-threads=1 \
        >"$out/run$i.log" 2>&1 || status=$?
    passed=$(grep -c '^SCENARIO | .* | PASS |' "$NVESEC_SCENARIO_LOG" || true)
    failed=$(grep -c '^SCENARIO | ' "$NVESEC_SCENARIO_LOG" || true)
    failed=$((failed - passed))
    tests_failed=$(grep -c '^test .* FAILED$' "$out/run$i.log" || true)
    log "run $i/$runs: exit $status, $passed scenarios passed, $failed failed, $tests_failed tests failed, $(($(date +%s) - start)) s"
done

# Per scenario (SCENARIO lines) and per test function without one (libtest's `test X ... ok`):
# passes out of runs, and the figure or panic of every failing run.
python3 - "$out" "$runs" "$hog" <<'EOF'
import glob, os, re, sys
out, runs, hog = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
scen, tests = {}, {}
for i in range(1, runs + 1):
    for line in open(os.path.join(out, f"run{i}.scenarios"), errors="replace"):
        if not line.startswith("SCENARIO | "):
            continue
        parts = line.rstrip("\n").split(" | ", 3)
        if len(parts) < 4:
            continue
        _, name, result, figure = parts
        s = scen.setdefault(name.strip(), {"pass": 0, "fail": []})
        if result.strip() == "PASS":
            s["pass"] += 1
        else:
            s["fail"].append(f"run {i}: {figure.strip()}")
    log = open(os.path.join(out, f"run{i}.log"), errors="replace").read()
    binary = "?"
    for line in log.splitlines():
        m = re.match(r"\s*Running tests/(\S+)\.rs", line)
        if m:
            binary = m.group(1)
        m = re.match(r"test (\S+) \.\.\. (ok|FAILED)$", line)
        if m:
            t = tests.setdefault(f"{binary}::{m.group(1)}", {"pass": 0, "fail": []})
            if m.group(2) == "ok":
                t["pass"] += 1
            else:
                panic = re.search(
                    r"---- " + re.escape(m.group(1)) + r" stdout ----\n(?:.*\n)*?.*panicked at ([^\n]*)\n([^\n]*)",
                    log)
                t["fail"].append(f"run {i}: " + (" ".join(panic.groups()) if panic else "FAILED"))
bad = 0
print(f"\n{runs} runs{' with a CPU hog on one core' if hog else ''} ({out})\n")
print(f"{'scenario':40} passed")
print(f"{'-' * 40} ------")
for name in sorted(scen):
    s = scen[name]
    print(f"{name:40} {s['pass']}/{runs}")
    for f in s["fail"]:
        print(f"    {f[:400]}")
    bad += s["pass"] != runs
print(f"\n{'test (binary::function)':70} passed")
print(f"{'-' * 70} ------")
for name in sorted(tests):
    t = tests[name]
    if t["pass"] != runs or t["fail"]:
        print(f"{name:70} {t['pass']}/{runs}")
        for f in t["fail"]:
            print(f"    {f[:400]}")
    bad += t["pass"] != runs
clean = sum(1 for t in tests.values() if t["pass"] == runs)
print(f"{clean} of {len(tests)} tests passed every run")
sys.exit(1 if bad or not scen else 0)
EOF
