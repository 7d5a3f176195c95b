#!/usr/bin/env bash
# Build the wheel, install it alone in a fresh virtualenv, and run the shipped migrations from it (SPEC: quality bars).
#   bash tests/wheel/check_wheel.sh            (from the checkout's root; .ci/run calls it)
set -euo pipefail
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_log="$work/build.log"
.venv/bin/python -m build --wheel --outdir "$work/dist" . >"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
if grep -iE "deprecat|is absent from the .packages. configuration" "$build_log"; then
  echo "the wheel build printed deprecation or packaging warnings (above): fix pyproject.toml" >&2; exit 1
fi
wheel=$(ls "$work"/dist/*.whl)
python3 -m zipfile -l "$wheel" >"$work/contents"
for path in flask_learning_contracts/services/__init__.py flask_learning_contracts/py.typed \
            flask_learning_contracts/templates/learning_contracts/base.html \
            flask_learning_contracts/static/learning_contracts/learning_contracts.css \
            flask_learning_contracts/templates/learning_contracts/email/invitation.html \
            flask_learning_contracts/translations/messages.pot \
            flask_learning_contracts/migrations/env.py flask_learning_contracts/migrations/versions/lc0001_learning_contracts.py \
            flask_learning_contracts/migrations/versions/lc0010_notifications.py; do
  grep -q " *$path " "$work/contents" || grep -q "^$path" "$work/contents" || { echo "the wheel lacks $path" >&2; exit 1; }
done
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
cd "$work"   # outside the checkout: only the installed wheel can be imported
export FLASK_APP="$root/tests/wheel/smoke_host.py" SMOKE_DATABASE_URL="sqlite:///$work/smoke.db"
"$work/venv/bin/python" -c "import flask_learning_contracts as f, sys; assert '$work/venv' in f.__file__, f.__file__"
"$work/venv/bin/flask" contracts db upgrade
"$work/venv/bin/flask" contracts db check
"$work/venv/bin/flask" contracts create --help >/dev/null
"$work/venv/bin/flask" contracts db downgrade base
echo "wheel $(basename "$wheel"): installed alone, migrations upgrade, check and downgrade from it"
