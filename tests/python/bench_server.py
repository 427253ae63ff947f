"""The Python side of row 1 of scripts/bench.sh: server.py's `echo` server behind
asyncmcp 0.2.1, with its SQS/SNS calls counted.

Usage: bench_server.py --endpoint URL --transport sqs|sns-sqs --queue-url URL

Prints `READY` once the manager polls; then reads commands on stdin: `stats` prints
`STATS <calls>` (every HTTP request boto3 sent, retries included); end of input exits.
"""

import argparse
import logging
import os
import sys
import threading

import anyio

from asyncmcp import SnsSqsServerConfig, SnsSqsSessionManager, SqsServerConfig, SqsSessionManager
from common import aws_clients, say
from server import POLL, build_app


def count_calls(*clients) -> list:
    """A one-element list that counts the HTTP requests `clients` send."""
    calls = [0]

    def bump(**_kwargs) -> None:
        calls[0] += 1

    for client in clients:
        client.meta.events.register("before-send", bump)
    return calls


def serve_commands(calls: list) -> None:
    """`stats` prints the call count; end of input ends the process."""

    def watch() -> None:
        for line in sys.stdin:
            if line.strip() == "stats":
                say(f"STATS {calls[0]}")
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--transport", choices=["sqs", "sns-sqs"], required=True)
    parser.add_argument("--queue-url", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    sqs, sns = aws_clients(args.endpoint)
    calls = count_calls(sqs, sns)
    serve_commands(calls)
    app = build_app(lambda: [])
    if args.transport == "sqs":
        manager = SqsSessionManager(app, SqsServerConfig(read_queue_url=args.queue_url, **POLL), sqs)
    else:
        manager = SnsSqsSessionManager(app, SnsSqsServerConfig(sqs_queue_url=args.queue_url, **POLL), sqs, sns)
    async with manager.run():
        say("READY")
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main)
