#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, then runs
# every tier. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (rustup) first" >&2
  exit 1
fi

# Two tiers need python3 3.10 or newer with venv/ensurepip (Debian and Ubuntu ship
# them as python3-venv), and network access to PyPI on their first run:
# - the moto tier (tests/tests/moto_*.rs) runs the real AWS SDK against a local moto
#   server; the harness (tests/src/moto.rs) uses `python3` when it can import moto and
#   otherwise installs moto[server]==5.2.1 into a venv under the target directory;
# - the Python interop tier (tests/tests/python_interop.rs) always installs Python
#   asyncmcp 0.2.1, the mcp SDK and AWS's SQS extended client (tests/python/requirements.txt, pinned) into
#   $CARGO_TARGET_DIR/py-venv (tests/src/python.rs), reused while the pins match.
echo "== python3 with venv for the moto and Python interop tiers"
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 not found: the moto and Python interop tiers need it (Debian/Ubuntu: apt-get install -y python3 python3-venv)" >&2
  exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
  echo "python3 is $(python3 --version 2>&1): the Python interop tier needs 3.10 or newer (asyncmcp 0.2.1, mcp 1.30)" >&2
  exit 1
fi
# Debian's python3 without python3-venv fails `-m venv` (no ensurepip): try it.
can_make_venv() {
  local probe
  probe=$(mktemp -d)
  python3 -m venv "$probe/venv" >/dev/null 2>&1 && "$probe/venv/bin/python" -m pip --version >/dev/null 2>&1
  local ok=$?
  rm -rf "$probe"
  return $ok
}
if ! can_make_venv; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "python3 cannot create venvs with pip: installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  else
    echo "python3 cannot create venvs with pip, so the harnesses cannot install moto and Python asyncmcp." >&2
    echo "Fix: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
fi
if python3 -c "import moto.server" >/dev/null 2>&1; then
  echo "moto $(python3 -c 'import moto; print(moto.__version__)') from python3"
else
  echo "moto not importable from python3: the harness installs it into a venv on first use (needs network)"
fi
echo "Python interop tier: $(python3 --version 2>&1); asyncmcp 0.2.1 goes into a venv under the target directory on first use (needs network)"

# The `asyncmcp` command's tests (asyncmcp-cli/tests) run real third-party MCP peers:
# the reference server from npm (needs node and npm) and the Python `mcp` SDK in a venv
# under the target directory (needs python3 with venv). The harness installs both
# packages itself and fails with what to install when these tools are missing.
echo "== node, npm and python3-venv for the asyncmcp command's tests"
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
  else
    echo "missing:$missing (Debian/Ubuntu: sudo apt-get install -y$missing; Node.js 20 or newer)" >&2
    exit 1
  fi
fi
echo "node $(node --version), npm $(npm --version)"

echo "== unit, doc, vector, simulation, property, moto and asyncmcp command tests"
cargo test --workspace --locked
