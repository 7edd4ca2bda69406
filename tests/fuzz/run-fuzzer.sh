#!/bin/sh
# Runs one libFuzzer target for a bounded time on a scratch copy of its seed corpus, so the repository is never
# written. Fails on any crash, leak, timeout (-timeout per input) or memory blow-up; the input that did it is saved
# in ARTIFACT_DIR.
#   run-fuzzer.sh FUZZER SEED_DIR ARTIFACT_DIR [libFuzzer flags...]      FUZZ_SECONDS=60 by default
set -eu
fuzzer=$1 seeds=$2 artifacts=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/taskmaster-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$seeds"/* "$work"/
mkdir -p "$artifacts"
rc=0
"$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -error_exitcode=1 -artifact_prefix="$artifacts/$(basename "$fuzzer")-" "$@" "$work" || rc=$?
# 77 would read as "skipped" to meson: every finding must fail the test.
[ "$rc" -ne 77 ] || rc=1
exit "$rc"
