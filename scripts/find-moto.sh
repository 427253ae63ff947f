# Sourced by the scripts that start moto: sets PYTHON to a python3 that imports
# moto.server (python3 itself, or the tests' venv under the target directory), or
# exits saying how to install it.
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import moto.server" >/dev/null 2>&1; then
  venv="${CARGO_TARGET_DIR:-target}/moto-venv/bin/python"
  if [ -x "$venv" ] && "$venv" -c "import moto.server" >/dev/null 2>&1; then
    PYTHON=$venv
  else
    echo "moto is not installed: python3 -m pip install 'moto[server]==5.2.1'" >&2
    exit 1
  fi
fi
