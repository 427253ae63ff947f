"""Minimal raw-SDK (boto3) repro: moto 5.2.1's server hands one SQS message to two
concurrent ReceiveMessage long polls.

moto's `SQSBackend.receive_message` checks `message.visible` and later calls
`message.mark_received` (which hides it) with no lock between them, and moto's
server runs each HTTP request on its own thread: two polls that wake on the same
send can both see the message visible and both return it, with receive counts 1
and 2, milliseconds apart, well inside the visibility timeout. Real SQS does not
do this for a standard queue within the visibility timeout of a receive.

Usage: python3 scripts/moto-double-receive.py ENDPOINT [ROUNDS] [POLLERS]
Prints `DOUBLE mid=.. counts=1,2 gap_ms=..` per message received twice, then
`RESULT sent=N messages=N doubles=N`. Exit status 0 either way.
"""
import sys
import threading
import time

import boto3

endpoint = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
pollers = int(sys.argv[3]) if len(sys.argv) > 3 else 6
sqs = boto3.client(
    "sqs", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="testing", aws_secret_access_key="testing",
)
url = sqs.create_queue(QueueName=f"double-{int(time.time() * 1000)}")["QueueUrl"]
seen = {}  # message id -> [(receive count, unix ms)]
lock = threading.Lock()
stop = threading.Event()


def poll():
    # One client per thread, as separate processes would have.
    c = boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    while not stop.is_set():
        r = c.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        now = int(time.time() * 1000)
        for m in r.get("Messages", []):
            with lock:
                seen.setdefault(m["MessageId"], []).append(
                    (int(m["Attributes"]["ApproximateReceiveCount"]), now))
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


threads = [threading.Thread(target=poll) for _ in range(pollers)]
for t in threads:
    t.start()
time.sleep(0.5)  # all polls waiting
sent = 0
for _ in range(rounds):
    # A batch of 10 wakes every waiting poll at once; each walks the queue's list.
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    sent += 10
time.sleep(2)
stop.set()
for t in threads:
    t.join()
doubles = 0
for mid, got in seen.items():
    if len(got) > 1:
        doubles += 1
        counts = ",".join(str(c) for c, _ in sorted(got))
        gap = max(t for _, t in got) - min(t for _, t in got)
        print(f"DOUBLE mid={mid} counts={counts} gap_ms={gap}")
print(f"RESULT sent={sent} messages={len(seen)} doubles={doubles}")
