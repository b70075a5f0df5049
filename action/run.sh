#!/usr/bin/env bash
# The GitHub Action's step (action.yml): inputs and the event come as environment variables.
# Exits with cexguard's code: 0 clean, 1 findings (unless fail-on says otherwise), 2 error.
set -uo pipefail

CEXGUARD=${CEXGUARD:-cexguard}
mode=${INPUT_MODE:-diff}
format=${INPUT_FORMAT:-github}
fail_on=${INPUT_FAIL_ON:-any}
sarif=${INPUT_SARIF:-false}
range=${INPUT_RANGE:-}
out=${GITHUB_OUTPUT:-/dev/null}

fail() { echo "::error title=cexguard::$1"; echo "exit-code=2" >>"$out"; exit 2; }

case "$mode" in
  diff)
    if [ -z "$range" ]; then
      if [ -n "${CEXGUARD_PR_BASE:-}" ]; then
        range="${CEXGUARD_PR_BASE}..${CEXGUARD_PR_HEAD:-${CEXGUARD_SHA:-HEAD}}"
      elif [ -n "${CEXGUARD_BEFORE:-}" ]; then
        range="${CEXGUARD_BEFORE}..${CEXGUARD_SHA:-HEAD}"   # a zero 'before' (new branch): its whole history
      else
        fail "mode diff needs a pull_request or push event, or the range input (BASE..HEAD)"
      fi
    fi
    args=(history --range "$range") ;;
  history) args=(history) ;;
  scan) args=(scan "${INPUT_PATH:-.}") ;;
  *) fail "unknown mode '$mode' (diff, history or scan)" ;;
esac
case "$fail_on" in
  any) ;;
  high) args+=(--min-confidence high) ;;
  never) args+=(--exit-zero) ;;
  *) fail "unknown fail-on '$fail_on' (any, high or never)" ;;
esac
case "$format" in
  github|text|json|jsonl|gitlab|junit|sarif) ;;
  *) fail "unknown format '$format'" ;;
esac

if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = "true" ] && [ "$mode" != "scan" ]; then
  echo "::warning title=cexguard::this checkout is shallow: use actions/checkout with fetch-depth: 0"
fi

log=$(mktemp)
err=$(mktemp)
trap 'rm -f "$log" "$err"' EXIT
"$CEXGUARD" "${args[@]}" --format "$format" >"$log" 2>"$err"
code=$?
cat "$log"
cat "$err" >&2
# the count, from cexguard's own summary line ("N finding(s)")
n=$(grep -ohE '^(cexguard: |::notice title=cexguard::cexguard: )?[0-9]+ finding\(s\)' "$err" "$log" | tail -n 1 \
    | grep -oE '[0-9]+' | head -n 1)
[ -n "$n" ] && echo "findings=$n" >>"$out"
if [ "$sarif" = "true" ] && [ "$code" -ne 2 ]; then
  # a second pass for code scanning (the log keeps the format asked for)
  if "$CEXGUARD" "${args[@]}" --format sarif -o cexguard.sarif -q --exit-zero; then
    echo "sarif-file=cexguard.sarif" >>"$out"
  fi
fi
echo "exit-code=$code" >>"$out"
exit "$code"
