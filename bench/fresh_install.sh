#!/usr/bin/env bash
# Fresh machine, README first command to first answer: clones COMMIT into an empty folder and runs the README's
# first command there with an empty HOME (so an empty pip cache, model cache and index), timing it end to end.
# Usage: bash bench/fresh_install.sh COMMIT [COMMIT...]   (run on an idle machine, one at a time)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
for commit in "$@"; do
  dir="$(mktemp -d /tmp/fresh-install-XXXX)"
  git clone -q "$REPO" "$dir/repo" && git -C "$dir/repo" checkout -q "$commit"
  mkdir -p "$dir/home"
  cmd="$(awk '/^```bash$/{getline; print; exit}' "$dir/repo/README.md")"
  started=$(date +%s)
  status=0
  (cd "$dir/repo" && env -i PATH="$PATH" HOME="$dir/home" LANG=C.UTF-8 bash -c "$cmd") > "$dir/log" 2>&1 || status=$?
  seconds=$(( $(date +%s) - started ))
  echo "commit=$commit seconds=$seconds exit=$status pip_cache=$(du -sh "$dir/home/.cache/pip" 2>/dev/null | cut -f1) dir=$dir"
  echo "  command: $cmd"
  tail -3 "$dir/log" | sed 's/^/  | /'
done
