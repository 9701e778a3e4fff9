#!/usr/bin/env bash
# tests/fuzz/run.sh BINARY SECONDS - run a libFuzzer target for a bounded time on a copy of
# its seed corpus (tests/fuzz/corpus for fuzz_net, tests/fuzz/corpus_<name> for fuzz_<name>);
# prints "ok - ..." or "not ok - ..." and a summary line "<name>: N passed, N failed"
# (1 run), the format tools/runtests.py reads.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$1
secs=$2
name=$(basename "$bin")
work=build/fuzz
if [ "$name" = fuzz_net ]; then
	seeds=tests/fuzz/corpus
	corpus=$work/corpus
else
	seeds=tests/fuzz/corpus_${name#fuzz_}
	corpus=$work/corpus_${name#fuzz_}
fi
mkdir -p "$corpus" "$work/artifacts"
cp -n "$seeds"/* "$corpus/" 2>/dev/null || true
log=$work/$name.log
status=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	-artifact_prefix="$work/artifacts/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
if [ "$status" -eq 0 ]; then
	echo "ok - $name: ${execs} inputs in ${secs} s (coverage ${cov} edges), no crash"
	echo "$name: 1 passed, 0 failed"
else
	tail -n 40 "$log" >&2
	echo "$name: failed (status $status); artifacts in $work/artifacts, log $log" >&2
	echo "not ok - $name: crashed or failed (status $status)"
	echo "$name: 0 passed, 1 failed"
	exit 1
fi
