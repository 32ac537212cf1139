#!/usr/bin/env bash
# Rewrites the generated reference at the end of docs/cli.md (between the BEGIN/END markers)
# from the binary's own --help texts. test_cli_docs fails until this has been run after a
# flag or help text changes.
# usage: scripts/update-cli-docs.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
qengine=${1:-$here/build}/apps/qengine
doc=$here/docs/cli.md
begin='<!-- BEGIN GENERATED: qengine help-markdown -->'
end='<!-- END GENERATED -->'
[ -x "$qengine" ] || { echo "update-cli-docs.sh: $qengine not built" >&2; exit 2; }
grep -qF "$begin" "$doc" && grep -qF "$end" "$doc" || { echo "update-cli-docs.sh: markers missing in $doc" >&2; exit 2; }
generated=$(mktemp)
trap 'rm -f "$generated" "$doc.tmp"' EXIT
"$qengine" help-markdown > "$generated"
awk -v begin="$begin" -v end="$end" -v gen="$generated" '
  $0 == begin { print; while ((getline line < gen) > 0) print line; skipping = 1; next }
  $0 == end { skipping = 0 }
  !skipping { print }' "$doc" > "$doc.tmp"
mv "$doc.tmp" "$doc"
