"""The official Python mcp ClientSession over asyncmcp 0.2.1's sqs_client or
sns_sqs_client, for tests/tests/python_interop.rs.

Usage: client.py --endpoint URL --transport sqs|sns-sqs --server ADDRESS
                 --reply-queue-url URL [--reply-topic-arn ARN] [--big-size N]

ADDRESS is the server's request queue URL (sqs) or topic ARN (sns-sqs). Runs
initialize (and so notifications/initialized), tools/list, tools/call of echo and of
big, and tools/call of an unknown tool; prints one JSON object per step:
{"step": NAME, "result": ...} or {"step": NAME, "error": {"code": C, "message": M}}.
Prints `DONE` at the end.
"""

import argparse
import logging
import json
from datetime import timedelta

import anyio
from mcp import ClientSession
from mcp.shared.exceptions import McpError

from asyncmcp import SnsSqsClientConfig, SqsClientConfig, sns_sqs_client, sqs_client
from common import aws_clients, exit_when_stdin_closes, say

POLL = dict(wait_time_seconds=1, poll_interval_seconds=0.05)


def report(step: str, outcome) -> None:
    say(json.dumps({"step": step, **outcome}))


async def run(session: ClientSession, big_size: int) -> None:
    async def step(name: str, call) -> None:
        try:
            result = await call()
            report(name, {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)})
        except McpError as e:
            report(name, {"error": {"code": e.error.code, "message": e.error.message}})

    await step("initialize", session.initialize)
    await step("tools/list", session.list_tools)
    await step("echo", lambda: session.call_tool("echo", {"text": "hello from python"}))
    await step("big", lambda: session.call_tool("big", {"size": big_size}))
    await step("unknown", lambda: session.call_tool("no-such-tool", {}))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--transport", choices=["sqs", "sns-sqs"], required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--reply-queue-url", required=True)
    parser.add_argument("--reply-topic-arn")
    parser.add_argument("--big-size", type=int, default=100 * 1024)
    args = parser.parse_args()
    exit_when_stdin_closes()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    sqs, sns = aws_clients(args.endpoint)
    if args.transport == "sqs":
        config = SqsClientConfig(
            read_queue_url=args.server, response_queue_url=args.reply_queue_url, client_id="py-client", **POLL
        )
        transport = sqs_client(config, sqs)
    else:
        config = SnsSqsClientConfig(
            sqs_queue_url=args.reply_queue_url, sns_topic_arn=args.server, client_id="py-client", **POLL
        )
        transport = sns_sqs_client(config, sqs, sns, client_topic_arn=args.reply_topic_arn)
    async with transport as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=30)) as session:
            await run(session, args.big_size)
    say("DONE")


if __name__ == "__main__":
    anyio.run(main)
