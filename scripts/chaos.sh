#!/usr/bin/env bash
# The chaos and fault suite (issue 17, docs/chaos.md).
#
#   scripts/chaos.sh --quick   the CI size: 10 random SIGKILL trials, PROPTEST_CASES=256,
#                              one Route 53 run with 30 % faults, the full-disk test
#   scripts/chaos.sh           the long form: 100 trials, 10,000 cases per fuzz target,
#                              5 fault runs with different seeds; the summary goes into
#                              docs/chaos.md (between the chaos-results markers)
#
# The same tests run in `cargo test --workspace` (scripts/test.sh) at the quick size, so CI
# needs nothing else. CHAOS_SEED=N repeats a run exactly (every test prints its seed).
# Needs moto (scripts/install-test-deps.sh) and root for the tmpfs of the full-disk test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; fi
if [ "$QUICK" = 1 ]; then
    TRIALS=10 CASES=256 FAULT_RUNS=1
else
    TRIALS=100 CASES=10000 FAULT_RUNS=5
fi
SEED="${CHAOS_SEED:-$(date +%s)}"
OUT="${CARGO_TARGET_DIR:-target}/chaos"
mkdir -p "$OUT"
LOG="$OUT/chaos-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "chaos: trials=$TRIALS cases=$CASES fault_runs=$FAULT_RUNS seed=$SEED log=$LOG"

START=$(date +%s)
run() { # NAME_FILTER [ENV=VALUE...]
    local filter=$1
    shift
    env "$@" cargo test -p dnsfailback --test integration "$filter" -- --nocapture 2>&1 | tee -a "$LOG"
}
cargo build -q -p dnsfailback --tests
run chaos_sigkill CHAOS_TRIALS="$TRIALS" CHAOS_SEED="$SEED"
for i in $(seq 1 "$FAULT_RUNS"); do
    run chaos_route53 CHAOS_SEED="$((SEED + i))"
done
run chaos_fuzz PROPTEST_CASES="$CASES"
run chaos_full_state_disk
run chaos_regress
WALL=$(( $(date +%s) - START ))

SUMMARY=$(grep -E '^chaos-(kill|faults): seed|chaos-fuzz-dns:|^chaos_disk:|^test .*chaos.* \.\.\. |SKIPPED' "$LOG" || true)
echo "----------------------------------------------------------------"
echo "$SUMMARY"
echo "chaos: done in ${WALL} s"

if [ "$QUICK" = 0 ]; then
    {
        echo "Last long run: $(date -u +%Y-%m-%d) on $(nproc) cores, \`scripts/chaos.sh\`, seed $SEED, ${WALL} s."
        echo
        echo '```'
        echo "$SUMMARY"
        echo '```'
    } > "$OUT/summary.md"
    python3 - "$OUT/summary.md" <<'EOF'
import sys
doc = "docs/chaos.md"
text = open(doc).read()
begin, end = "<!-- chaos-results:begin -->", "<!-- chaos-results:end -->"
new = open(sys.argv[1]).read()
a, b = text.index(begin) + len(begin), text.index(end)
open(doc, "w").write(text[:a] + "\n" + new + "\n" + text[b:])
EOF
    echo "chaos: results written into docs/chaos.md"
fi
