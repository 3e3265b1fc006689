#!/usr/bin/env bash
# Creates (once) and activates the project virtual environment in .venv.
# torch 2.14.1 + torchvision 0.29.1 are pinned first: their wheels are on the machines' local disk, and
# transformers' video processors need torchvision. torchcodec is never installed (it breaks `datasets` here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.videotext-installed"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Reinstall when pyproject.toml changed since the last install.
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  if "$venv/bin/python" -c "import torchcodec" 2>/dev/null; then
    "$venv/bin/python" -m pip uninstall -y -q torchcodec
  fi
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
