# Sourced by the scripts that start moto: sets PYTHON to a python3 that imports
# moto.server (python3 itself, or the tests' venv under the target directory), or
# exits saying how to install it; and defines wait_for_moto.
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

# wait_for_moto ENDPOINT LOG: waits up to 10 s for moto to answer on ENDPOINT, or
# exits with its log.
wait_for_moto() {
  for _ in $(seq 100); do
    curl -sf "$1/moto-api/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "moto did not start; log: $2" >&2
  cat "$2" >&2
  exit 1
}
