#!/usr/bin/env bash
# Creates (once) and activates the project virtual environment in .venv, installed from requirements-lock.txt: the
# exact releases the test suite last passed with (refresh with `bash scripts/lock.sh`). torch 2.14.1 +
# torchvision 0.29.1 wheels are on the machines' local disk; transformers' video processors need torchvision.
# torchcodec is never installed (it breaks `datasets` here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.videotext-installed"
lock="$root/requirements-lock.txt"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Reinstall when pyproject.toml or the lock file changed since the last install.
want="$(cat "$root/pyproject.toml" "$lock" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # PIP_CONSTRAINT also pins the build backend pip installs to build the project.
  PIP_CONSTRAINT="$lock" "$venv/bin/python" -m pip install -q --upgrade pip
  PIP_CONSTRAINT="$lock" "$venv/bin/python" -m pip install -q -e "$root[dev]"
  if "$venv/bin/python" -c "import torchcodec" 2>/dev/null; then
    "$venv/bin/python" -m pip uninstall -y -q torchcodec
  fi
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
