#!/usr/bin/env bash
# Compatibility check (CI runs it after the suite): every method is exported and reloaded without videotext
# (`utils/check_compat.py`) with the newest releases that pyproject.toml allows (not the lock file), then with
# transformers at the lowest version pyproject.toml allows.
# The environment starts as a hard-linked copy of .venv (no second 5 GB torch on disk: the last CI failure was a full
# disk) and is then upgraded eagerly to the newest allowed releases. pip unlinks a file before writing it, so .venv
# itself is never changed. Where hard links are impossible (another filesystem) it is installed from scratch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"   # makes sure .venv exists and is current (it sets $venv: keep our own name apart)
compat="${VIDEOTEXT_COMPAT_VENV:-$root/.venv-compat}"
if [ "$(realpath -m "$compat")" = "$(realpath -m "$root/.venv")" ]; then echo "compat.sh: VIDEOTEXT_COMPAT_VENV must not be .venv" >&2; exit 2; fi
rm -rf "$compat"
if ! cp -al "$root/.venv" "$compat" 2>/dev/null; then
  rm -rf "$compat"
  python3 -m venv "$compat"
fi
rm -f "$compat/.videotext-installed"
py="$compat/bin/python"
export PIP_NO_CACHE_DIR=1
# The editable videotext goes, so the check imports an installed copy as a user's would (the dev extra's test tools
# stay; the check does not import them).
"$py" -m pip uninstall -y -q videotext 2>/dev/null || true
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q --upgrade --upgrade-strategy eager "$root"
"$py" -m pip uninstall -y -q torchcodec 2>/dev/null || true
cd "$root"
echo "== newest releases pyproject.toml allows"
"$py" utils/check_compat.py
lowest="$("$py" -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(next(re.search(r">=([\w.]+)", d).group(1) for d in deps if d.startswith("transformers")))')"
echo "== transformers $lowest (the lower bound)"
"$py" -m pip install -q "transformers==$lowest"
"$py" utils/check_compat.py
rm -rf "$compat"
