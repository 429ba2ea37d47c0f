#!/usr/bin/env bash
# Creates the Python venvs at the repository root: .venv with the official ResultsDB client
# (tests/it/python_client.rs) and the CI Messages schema wrapper (tests/it/ci_messages.rs),
# .venv-schemathesis with schemathesis (tests/it/openapi.rs) and .venv-avocado with Avocado
# and its ResultsDB plugin (tests/it/avocado.rs), apart so their dependencies never have to
# agree.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python3 -m venv "$root/.venv"
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
echo "venv ready: $root/.venv"
python3 -m venv "$root/.venv-schemathesis"
"$root/.venv-schemathesis/bin/pip" install --quiet --disable-pip-version-check \
  -r "$root/tests/python/requirements-schemathesis.txt"
echo "venv ready: $root/.venv-schemathesis"
python3 -m venv "$root/.venv-avocado"
"$root/.venv-avocado/bin/pip" install --quiet --disable-pip-version-check \
  -r "$root/tests/python/requirements-avocado.txt"
echo "venv ready: $root/.venv-avocado"
