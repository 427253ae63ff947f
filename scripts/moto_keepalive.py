"""Serves moto's SQS/SNS API with HTTP/1.1 keep-alive, for scripts/bench-moto.sh.

`python3 -m moto.server` runs on werkzeug's development server, which answers every
request with `Connection: close`: each AWS SDK call then opens a new TCP connection,
which real SQS and SNS never make you do. This serves the same moto application with
waitress, which keeps connections open, so CPU figures count what a client of AWS
pays. Usage: python3 scripts/moto_keepalive.py HOST PORT (needs `pip install waitress`).
"""

import sys

import waitress
from moto.server import DomainDispatcherApplication, create_backend_app


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    # Long polls hold a thread each for up to 20 s: leave plenty.
    waitress.serve(app, host=host, port=port, threads=32, channel_timeout=120, _quiet=True)


if __name__ == "__main__":
    main()
