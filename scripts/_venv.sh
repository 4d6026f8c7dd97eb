# Shared by scripts/dev and scripts/test (sourced, not run): find Python, create
# the virtualenv and install the core and every channels_*/ distribution
# (editable) when what is installed is out of date.
#
# MARKAESTRO_VENV   where the virtualenv lives (default: <repo>/.venv)
# PYTHON            the interpreter to create it with (default: first python3.x >= 3.11 found)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MARKAESTRO_VENV:-$ROOT/.venv}"

die() {
    echo "markaestro: $*" >&2
    exit 1
}

find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "Python 3.11 or newer is needed; install it or set PYTHON=/path/to/python3.11"
}

# The distributions to install: the core, then each channel distribution present.
distributions() {
    local extras="$1" dir
    echo "$ROOT${extras:+[$extras]}"
    for dir in "$ROOT"/channels_*/; do
        dir="${dir%/}"
        if [[ -f "$dir/setup.cfg" || -f "$dir/pyproject.toml" || -f "$dir/setup.py" ]]; then
            echo "$dir${extras:+[$extras]}"
        fi
    done
}

# What the installed state depends on: the distribution list and their metadata files.
install_digest() {
    {
        distributions ""
        cat "$ROOT"/setup.cfg "$ROOT"/pyproject.toml "$ROOT"/channels_*/setup.cfg \
            "$ROOT"/channels_*/pyproject.toml 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1
}

# ensure_venv EXTRAS: a virtualenv with every distribution installed editable with EXTRAS ("" or "test").
ensure_venv() {
    local extras="$1" stamp="$VENV/.markaestro-installed" digest wanted spec
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "==> creating the virtualenv in $VENV" >&2
        "$(find_python)" -m venv "$VENV" ||
            die "could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    digest="$(install_digest)"
    wanted="$digest ${extras:-none}"
    # An install with test extras also serves the dev command.
    if [[ -f "$stamp" ]] && { [[ "$(cat "$stamp")" == "$wanted" ]] ||
        { [[ -z "$extras" ]] && [[ "$(cut -d' ' -f1 "$stamp")" == "$digest" ]]; }; }; then
        return 0
    fi
    local args=()
    while IFS= read -r spec; do
        args+=(-e "$spec")
    done < <(distributions "$extras")
    echo "==> installing $(( ${#args[@]} / 2 )) distributions into $VENV (editable${extras:+, with [$extras]})" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" ||
        die "pip install failed (see above)"
    echo "$wanted" >"$stamp"
}
