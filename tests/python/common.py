"""Shared by server.py and client.py: AWS clients for moto, the watchdog, the big text."""

import os
import sys
import threading

import boto3

# What `big` returns: this alphabet cycled to the requested length. The quote, the
# backslash and the newline make JSON (and the SNS envelope around it) escape some of
# it. tests/tests/python_interop.rs builds the same text.
ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789 "\\\n'


def big_text(size: int) -> str:
    return "".join(ALPHABET[i % len(ALPHABET)] for i in range(size))


def aws_clients(endpoint: str):
    """boto3 SQS and SNS clients for the moto server at `endpoint`."""
    kwargs = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    return boto3.client("sqs", **kwargs), boto3.client("sns", **kwargs)


def exit_when_stdin_closes() -> None:
    """The Rust harness holds our stdin open: when it ends (even by a crash), so do we."""

    def watch() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def say(line: str) -> None:
    print(line, flush=True)
