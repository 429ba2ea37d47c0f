#!/usr/bin/env bash
# Creates .venv at the repository root with the official ResultsDB Python client.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python3 -m venv "$root/.venv"
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
echo "venv ready: $root/.venv"
