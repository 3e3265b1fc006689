#!/usr/bin/env bash
# Compatibility check (CI runs it after the suite): a clean virtual environment with the newest releases that
# pyproject.toml allows (not the lock file), where every method is exported and reloaded without videotext
# (`utils/check_compat.py`); then the same with transformers at the lowest version pyproject.toml allows.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VIDEOTEXT_COMPAT_VENV:-$root/.venv-compat}"
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "$root"
"$py" -m pip uninstall -y -q torchcodec 2>/dev/null || true
cd "$root"
echo "== newest releases pyproject.toml allows"
"$py" utils/check_compat.py
lowest="$("$py" -c 'import re, tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(next(re.search(r">=([\w.]+)", d).group(1) for d in deps if d.startswith("transformers")))')"
echo "== transformers $lowest (the lower bound)"
"$py" -m pip install -q "transformers==$lowest"
"$py" utils/check_compat.py
