#!/usr/bin/env bash
# Refreshes requirements-lock.txt: resolves the newest releases pyproject.toml allows in a clean virtual environment
# and freezes them. Then run `bash scripts/test.sh` (it reinstalls .venv from the new lock) and commit the lock with
# the code it passed with.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --upgrade pip setuptools
"$tmp/venv/bin/python" -m pip install -q "$root[dev]"
"$tmp/venv/bin/python" -m pip uninstall -y -q torchcodec 2>/dev/null || true
{
  echo "# The exact releases the test suite last passed with; scripts/env.sh installs from this file."
  echo "# Written by \`bash scripts/lock.sh\` on $(date -u +%Y-%m-%d) with $("$tmp/venv/bin/python" --version), $(uname -m)."
  "$tmp/venv/bin/python" -m pip freeze --all --exclude videotext
} > "$root/requirements-lock.txt"
echo "wrote $root/requirements-lock.txt ($(grep -vc '^#' "$root/requirements-lock.txt") packages)"
