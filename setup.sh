#!/usr/bin/env bash
# One entry point for a fresh machine. Creates/reuses .venv/ and installs
# what the chosen job needs, then runs it.
#   ./setup.sh demo "a person waves"   the main job end to end
#   ./setup.sh test                    the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
DATA="${MOTIONGPT_DATA:-$ROOT/../shared/data}"

ensure_venv() {
    if [ ! -x "$PY" ]; then
        echo "Creating $VENV ..."
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "Installing the engine and its dependencies into $VENV (first run takes a few minutes) ..."
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet -e ".[dev]"
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

usage() {
    echo "usage: ./setup.sh demo \"a prompt\" | ./setup.sh test [pytest args]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
job="$1"; shift
case "$job" in
    demo)
        ensure_venv
        exec "$PY" -m engine.demo --data "$DATA" --out "$ROOT/out" "$@"
        ;;
    test)
        ensure_venv
        exec "$PY" -m pytest -q "$@"
        ;;
    *) usage ;;
esac
