"""A Python MCP server (the official mcp low-level Server) behind asyncmcp 0.2.1's
SqsSessionManager or SnsSqsSessionManager, for tests/tests/python_interop.rs.

Usage: server.py --endpoint URL --transport sqs|sns-sqs --queue-url URL

Tools: `echo` (text back), `big` (`size` characters of common.big_text), and `slow`
(waits `seconds`, printing `SESSION <id>` for each open session first, so the test
can send a malformed message on that session while a request is pending).
Prints `READY` once the manager polls.
"""

import argparse
import logging

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server

from asyncmcp import SnsSqsServerConfig, SnsSqsSessionManager, SqsServerConfig, SqsSessionManager
from common import aws_clients, big_text, exit_when_stdin_closes, say

# Python asyncmcp sleeps poll_interval_seconds (5 s by default) after every empty
# receive: keep it low, and long-poll briefly so shutdown is quick.
POLL = dict(wait_time_seconds=1, poll_interval_seconds=0.05)


def build_app(sessions) -> Server:
    app = Server("py-interop-server")

    @app.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(
                name="echo",
                description="Echo the text back",
                inputSchema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            ),
            types.Tool(
                name="big",
                description="A text of `size` characters",
                inputSchema={"type": "object", "properties": {"size": {"type": "integer"}}, "required": ["size"]},
            ),
            types.Tool(
                name="slow",
                description="Answer after `seconds`",
                inputSchema={"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
            ),
        ]

    @app.call_tool()
    async def call_tool(name: str, arguments: dict) -> list[types.TextContent]:
        if name == "echo":
            return [types.TextContent(type="text", text=arguments["text"])]
        if name == "big":
            return [types.TextContent(type="text", text=big_text(int(arguments["size"])))]
        if name == "slow":
            for session_id in sessions():
                say(f"SESSION {session_id}")
            await anyio.sleep(float(arguments["seconds"]))
            return [types.TextContent(type="text", text="slept")]
        raise ValueError(f"Unknown tool: {name}")

    return app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--transport", choices=["sqs", "sns-sqs"], required=True)
    parser.add_argument("--queue-url", required=True)
    args = parser.parse_args()
    exit_when_stdin_closes()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    sqs, sns = aws_clients(args.endpoint)
    manager = None
    app = build_app(lambda: list(manager.get_all_sessions()) if manager else [])
    if args.transport == "sqs":
        manager = SqsSessionManager(app, SqsServerConfig(read_queue_url=args.queue_url, **POLL), sqs)
    else:
        manager = SnsSqsSessionManager(app, SnsSqsServerConfig(sqs_queue_url=args.queue_url, **POLL), sqs, sns)
    async with manager.run():
        say("READY")
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main)
