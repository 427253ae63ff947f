#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, then runs
# every tier. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (rustup) first" >&2
  exit 1
fi

# The moto tier (tests/tests/moto_*.rs) runs the real AWS SDK against a local moto
# server. The harness (tests/src/moto.rs) uses `python3` when it can import moto and
# otherwise installs moto[server]==5.2.1 into a venv under the target directory, which
# needs python3 with venv/ensurepip (Debian and Ubuntu ship them as python3-venv).
echo "== python3 and moto for the moto tier"
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 not found: the moto tier needs it (Debian/Ubuntu: apt-get install -y python3 python3-venv)" >&2
  exit 1
fi
if python3 -c "import moto.server" >/dev/null 2>&1; then
  echo "moto $(python3 -c 'import moto; print(moto.__version__)') from python3"
elif ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "python3 cannot create venvs (no ensurepip): installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  else
    echo "python3 cannot create venvs (no ensurepip), so the harness cannot install moto." >&2
    echo "Fix: sudo apt-get install -y python3-venv, or: python3 -m pip install 'moto[server]==5.2.1'" >&2
    exit 1
  fi
else
  echo "moto not importable from python3: the harness installs it into a venv on first use (needs network)"
fi

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
