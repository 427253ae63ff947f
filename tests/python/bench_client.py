"""Row 1 of scripts/bench.sh: Python asyncmcp 0.2.1's client and server, in separate
processes on one moto, calling `echo` with 1 KiB of text.

Usage: bench_client.py --endpoint URL --transport sqs|sns-sqs [--raw]
                       [--seq 100] [--par 200] [--in-flight 8]

Creates its queues (and topics), starts bench_server.py as a child process, runs
initialize, a warm-up, `--seq` calls one at a time, then `--par` calls with
`--in-flight` at once. For each phase prints one line
`BENCH phase=seq|parN rate=.. p50=.. p99=.. calls_rt=.. cpu_rt_ms=..`: round trips per
second, latency percentiles (ms), SQS/SNS HTTP requests per round trip (client and
server, counted by boto3 hooks) and CPU milliseconds per round trip of both processes
(user + system, from /proc/<pid>/stat).
"""

import argparse
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

import anyio
from mcp import ClientSession

from asyncmcp import SnsSqsClientConfig, SqsClientConfig, sns_sqs_client, sqs_client
from bench_server import count_calls
from common import aws_clients, say
from server import POLL

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def percentile(sorted_ms: list, p: float) -> float:
    if not sorted_ms:
        return 0.0
    rank = max(1, min(len(sorted_ms), -(-int(p * len(sorted_ms)) // 100)))
    return sorted_ms[rank - 1]


def create(sqs, sns, transport: str, raw: bool) -> dict:
    tag = f"pybench-{os.getpid()}"
    req = sqs.create_queue(QueueName=f"{tag}-req")["QueueUrl"]
    rep = sqs.create_queue(QueueName=f"{tag}-rep")["QueueUrl"]
    t = dict(requests=req, replies=rep, to_server=req, reply_topic=None)
    if transport == "sns-sqs":
        def arn(url):
            return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        st = sns.create_topic(Name=f"{tag}-st")["TopicArn"]
        ct = sns.create_topic(Name=f"{tag}-ct")["TopicArn"]
        attrs = {"RawMessageDelivery": "true"} if raw else {}
        sns.subscribe(TopicArn=st, Protocol="sqs", Endpoint=arn(req), Attributes=attrs)
        sns.subscribe(TopicArn=ct, Protocol="sqs", Endpoint=arn(rep), Attributes=attrs)
        t.update(to_server=st, reply_topic=ct)
    return t


class Server:
    def __init__(self, endpoint: str, transport: str, queue_url: str):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "bench_server.py"), "--endpoint", endpoint,
             "--transport", transport, "--queue-url", queue_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"bench_server.py did not start: {line!r}")

    def calls(self) -> int:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().split()[1])

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


async def echo_calls(session: ClientSession, calls: int, in_flight: int, text: str) -> tuple:
    latencies = []

    async def worker(share: int) -> None:
        for _ in range(share):
            t = time.perf_counter()
            result = await session.call_tool("echo", {"text": text})
            latencies.append((time.perf_counter() - t) * 1000)
            got = sum(len(c.text) for c in result.content)
            if got != len(text):
                raise RuntimeError(f"echo returned {got} bytes, not {len(text)}")

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for w in range(in_flight):
            tg.start_soon(worker, calls // in_flight + (1 if w < calls % in_flight else 0))
    return sorted(latencies), time.perf_counter() - started


async def phase(label, session, server, my_calls, calls, in_flight, text) -> None:
    me, srv = os.getpid(), server.proc.pid
    before = (my_calls[0], server.calls(), cpu_secs(me), cpu_secs(srv))
    latencies, elapsed = await echo_calls(session, calls, in_flight, text)
    after = (my_calls[0], server.calls(), cpu_secs(me), cpu_secs(srv))
    n = float(calls)
    api = (after[0] - before[0] + after[1] - before[1]) / n
    cpu_ms = (after[2] - before[2] + after[3] - before[3]) * 1000 / n
    say(
        f"BENCH phase={label} rate={n / elapsed:.2f} p50={percentile(latencies, 50):.2f} "
        f"p99={percentile(latencies, 99):.2f} calls_rt={api:.3f} cpu_rt_ms={cpu_ms:.4f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--transport", choices=["sqs", "sns-sqs"], required=True)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--par", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    sqs, sns = aws_clients(args.endpoint)
    t = create(sqs, sns, args.transport, args.raw)
    my_calls = count_calls(sqs, sns)
    server = Server(args.endpoint, args.transport, t["requests"])
    try:
        if args.transport == "sqs":
            config = SqsClientConfig(
                read_queue_url=t["to_server"], response_queue_url=t["replies"], client_id="py-bench", **POLL
            )
            transport = sqs_client(config, sqs)
        else:
            config = SnsSqsClientConfig(
                sqs_queue_url=t["replies"], sns_topic_arn=t["to_server"], client_id="py-bench", **POLL
            )
            transport = sns_sqs_client(config, sqs, sns, client_topic_arn=t["reply_topic"])
        text = "x" * 1024
        async with transport as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timedelta(seconds=30)) as session:
                await session.initialize()
                await echo_calls(session, 10, 1, text)  # warm-up
                await phase("seq", session, server, my_calls, args.seq, 1, text)
                await phase(f"par{args.in_flight}", session, server, my_calls, args.par, args.in_flight, text)
    finally:
        server.stop()


if __name__ == "__main__":
    anyio.run(main)
