#!/usr/bin/env bash
# One entry point for a fresh machine. Creates/reuses .venv/ and installs
# what the chosen job needs, then runs it.
#   ./setup.sh demo "a person waves"   the main job end to end (Blender extension, headless)
#   ./setup.sh test                    the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

ensure_venv() {
    if [ ! -x "$PY" ]; then
        echo "Creating $VENV ..."
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "Installing the engine and its dependencies into $VENV (first run takes a few minutes) ..."
        local log="$VENV/pip-install.log"
        # pip's own notes go to a log: on success they are noise, on failure they are shown
        if ! { "$PY" -m pip install --quiet --upgrade pip && "$PY" -m pip install --quiet -e ".[dev]"; } \
                > "$log" 2>&1; then
            cat "$log" >&2
            echo "Installing into $VENV failed (pip's output above, also in $log)." >&2
            exit 1
        fi
        echo "Installed (pip's notes: $log)."
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
        # The extension end to end in a headless Blender (bpy module): build and
        # install the zip, Generate / Fill Gap / Caption on a Rigify metarig,
        # out/demo.blend + out/demo.png. Needs models/default (or --model DIR);
        # without one it says how to make it and exits 2.
        exec "$PY" "$ROOT/scripts/blender_demo.py" --out "$ROOT/out" "$@"
        ;;
    test)
        ensure_venv
        # ARGS go to pytest as given (-q alone when there are none): its last line shows the counts
        if [ $# -eq 0 ]; then set -- -q; fi
        exec "$PY" -m pytest "$@"
        ;;
    *) usage ;;
esac
