#!/usr/bin/env bash
# Print the interop suite's summary table from the `SCENARIO | name | result | figure`
# lines the harness appends to $NVESEC_SCENARIO_LOG (interop/src/topology.rs, Scenario).
#
#   scripts/scenario-summary.sh FILE            # aligned text table
#   scripts/scenario-summary.sh --markdown FILE # the same as a Markdown table
#
# Other lines in FILE are ignored, so a captured `cargo test --nocapture` output works too.
# Exit status: 0 when every scenario passed, 1 when one failed or FILE holds no scenario
# (a suite that recorded nothing did not run), 2 on usage errors.
set -euo pipefail

usage() { echo "usage: $0 [--markdown] FILE" >&2; exit 2; }

format=text
if [ "${1:-}" = "--markdown" ]; then
    format=markdown
    shift
fi
[ $# -eq 1 ] || usage
file=$1
[ -r "$file" ] || { echo "$0: cannot read $file" >&2; exit 2; }

# Fields are split on " | " at most three times: a figure may itself contain "|".
awk -v format="$format" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
function esc(s) { gsub(/\|/, "\\|", s); return s }
/^SCENARIO \| / {
    rest = substr($0, length("SCENARIO | ") + 1)
    for (f = 1; f <= 2; f++) {
        i = index(rest, " | ")
        if (i == 0) { field[f] = rest; rest = ""; continue }
        field[f] = substr(rest, 1, i - 1)
        rest = substr(rest, i + 3)
    }
    n++
    name[n] = trim(field[1]); result[n] = trim(field[2]); figure[n] = trim(rest)
    if (length(name[n]) > wn) wn = length(name[n])
    if (result[n] == "PASS") pass++; else fail++
}
END {
    if (n == 0) { print "no SCENARIO lines recorded" > "/dev/stderr"; exit 1 }
    if (wn < 8) wn = 8
    if (format == "markdown") {
        print "| scenario | result | figure |"
        print "|---|---|---|"
        for (k = 1; k <= n; k++) printf "| %s | %s | %s |\n", esc(name[k]), result[k], esc(figure[k])
        print ""
    } else {
        print sprintf("%-" wn "s  %-6s  %s", "scenario", "result", "figure")
        dash = ""; for (k = 0; k < wn; k++) dash = dash "-"
        printf "%s  ------  ------\n", dash
        for (k = 1; k <= n; k++) print trim(sprintf("%-" wn "s  %-6s  %s", name[k], result[k], figure[k]))
    }
    printf "%d scenarios: %d PASS, %d FAIL\n", n, pass, fail
    exit (fail > 0) ? 1 : 0
}' "$file"
