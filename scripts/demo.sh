#!/usr/bin/env bash
# The main job: `videotext demo` inside the project's virtual environment.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec videotext demo "$@"
