#!/usr/bin/env bash
# `make eval`: every eval suite under evals/ (a folder with a suite.yaml), each scored as recorded
# and then replayed on today's code, against its baseline.json when it has one. Reports go to
# .waypoint/eval/<suite>/<mode>. Exit 1 when any suite fails, 2 when there is none.
set -u
cd "$(dirname "$0")/.."
status=0
found=0
for suite in evals/*/suite.yaml; do
    [ -e "$suite" ] || continue
    found=1
    dir=$(dirname "$suite")
    name=$(basename "$dir")
    baseline=()
    [ -f "$dir/baseline.json" ] && baseline=(--baseline "$dir/baseline.json")
    for mode in score replay; do
        echo "== $dir ($mode)"
        .venv/bin/waypoint eval "$dir" --mode "$mode" ${baseline[@]+"${baseline[@]}"} \
            --report ".waypoint/eval/$name/$mode" || status=1
    done
done
if [ "$found" = 0 ]; then
    echo "make eval: no eval suite under evals/ (expected evals/NAME/suite.yaml)" >&2
    exit 2
fi
exit "$status"
