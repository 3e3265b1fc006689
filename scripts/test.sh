#!/usr/bin/env bash
# The test suite: lint, then pytest, inside the project's virtual environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
cd "$root"
ruff check src tests bench
python utils/check_hub_code.py
exec python -m pytest -q -x -p no:cacheprovider "$@"
