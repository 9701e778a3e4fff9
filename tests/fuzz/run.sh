#!/usr/bin/env bash
# tests/fuzz/run.sh [--short] BINARY SECONDS - run a libFuzzer target for a bounded time on its
# seed corpus (tests/fuzz/corpus for fuzz_net, tests/fuzz/corpus_<name> for fuzz_<name>);
# prints "ok - ..." or "not ok - ..." and a summary line "<name>: N passed, N failed"
# (1 run), the format tools/runtests.py reads.
#
# --short (make test, make fuzz-short): the same run every time as far as libFuzzer allows: a
# fixed seed (-seed=$FUZZ_SEED, default 1) and a fresh copy of the seeds (build/fuzz/short/),
# not the corpus earlier runs grew. Without it (make fuzz): a random seed, and the corpus in
# build/fuzz/ keeps what each run finds.
# -max_len is the largest seed's size if that is above 4096 (a seed must fit whole).
# A run that cannot start is never silent: without clang the target is reported as skipped
# with the reason ("skip - ..."); a binary missing otherwise, a crash, a non-zero status or a
# run that executed no input at all is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
short=0
if [ "${1:-}" = --short ]; then
	short=1
	shift
fi
bin=$1
secs=$2
name=$(basename "$bin")
work=build/fuzz
if [ "$name" = fuzz_net ]; then
	seeds=tests/fuzz/corpus
else
	seeds=tests/fuzz/corpus_${name#fuzz_}
fi
if [ ! -x "$bin" ]; then
	if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
		echo "skip - $name: ${FUZZ_CC:-clang} not found, the target cannot be built (apt-get install clang)"
		echo "$name: 0 passed, 0 failed"
		exit 0
	fi
	echo "not ok - $name: $bin was not built"
	echo "$name: 0 passed, 1 failed"
	exit 1
fi
if [ "$short" = 1 ]; then
	corpus=$work/short/$(basename "$seeds")
	rm -rf "$corpus"
	seedopt=-seed=${FUZZ_SEED:-1}
else
	corpus=$work/$(basename "$seeds")
	seedopt=
fi
mkdir -p "$corpus" "$work/artifacts"
cp -n "$seeds"/* "$corpus/" 2>/dev/null || true
maxlen=$(find "$seeds" -type f -printf '%s\n' | sort -n | tail -n 1)
maxlen=$(( ${maxlen:-0} > 4096 ? maxlen : 4096 ))
log=$work/$name.log
status=0
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" $seedopt \
	-artifact_prefix="$work/artifacts/$name-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
if [ "$status" -eq 0 ] && [ "${execs:-0}" -gt 0 ]; then
	echo "ok - $name: ${execs} inputs in ${secs} s (coverage ${cov} edges, -max_len=$maxlen${seedopt:+, $seedopt}), no crash"
	echo "$name: 1 passed, 0 failed"
else
	tail -n 40 "$log" >&2
	why="crashed or failed (status $status)"
	[ "$status" -eq 0 ] && why="ran no input (status 0, 0 executed units)"
	echo "$name: failed: $why; artifacts in $work/artifacts, log $log" >&2
	echo "not ok - $name: $why"
	echo "$name: 0 passed, 1 failed"
	exit 1
fi
