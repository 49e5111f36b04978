#!/usr/bin/env bash
# Golden outputs of one source tree: `edsc eval --quick` and the bundle report's fast sections, on one torch
# thread, with a given bundle directory. Compare two trees' outputs with tools/golden_compare.py.
#
# usage: tools/golden_run.sh TREE OUT BUNDLES [extra eval flags...]
#   TREE     a checkout of this repository (its edsc/, shared/, ... are imported: run from TREE)
#   OUT      output folder (created): eval/ (the eval's files), report/ (report.json, report.md), *.log, times
#   BUNDLES  a folder holding synthface-128/ and baselines/deepjscc-128/ (the same one for both trees)
# REPORT_FACES (default 16): held-out faces of the bundle report (its default, 200, takes far longer on 1 thread)
set -euo pipefail
tree=$(cd "$1" && pwd); out=$2; bundles=$(cd "$3" && pwd); shift 3
py=${PYTHON:-/work/main/.venv/bin/python}
mkdir -p "$out"; out=$(cd "$out" && pwd)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 EDSC_BUNDLE="$bundles/synthface-128"
cd "$tree"
t0=$(date +%s)
"$py" -m edsc.cli.main eval --quick --quiet --device cpu --bundle "$bundles/synthface-128" \
    --deepjscc "$bundles/baselines/deepjscc-128" --out "$out/eval" "$@" >"$out/eval.log" 2>&1
t1=$(date +%s)
"$py" -m edsc.cli.main bundle report --quiet --device cpu --bundle "$bundles/synthface-128" \
    --sections generator,inversion,predictor,parser --faces "${REPORT_FACES:-16}" --out "$out/report" --json >"$out/report.log" 2>&1 || true
t2=$(date +%s)
echo "eval_seconds=$((t1 - t0)) report_seconds=$((t2 - t1))" >"$out/times"
