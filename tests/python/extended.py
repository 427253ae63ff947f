"""AWS's SQS extended client (amazon-sqs-extended-client, from PyPI) against an
asyncmcp server on moto: sends one large JSON-RPC request through S3 to the server's
queue, then reads the large reply the server sent through S3 to its own queue.

Usage: extended.py ENDPOINT BUCKET SERVER_QUEUE_URL REPLY_QUEUE_URL SIZE

Prints (one JSON object per line):
  {"step": "sent", "body": <the pointer body it sent>}
  {"step": "reply", "size": N, "text_ok": true, "receipt_handle": "...", "attributes": [...]}
  {"step": "deleted", "objects_left": [...]}
Exits 0 on success; exits when stdin closes.
"""

import json
import sys
import threading
import time

import boto3
from botocore.config import Config
from sqs_extended_client import SQSExtendedClientSession


def main():
    endpoint, bucket, server_queue, reply_queue, size = sys.argv[1:6]
    size = int(size)
    threading.Thread(target=lambda: (sys.stdin.read(), sys.exit(0)), daemon=True).start()
    creds = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    session = SQSExtendedClientSession(**creds)
    sqs = session.client("sqs", endpoint_url=endpoint)
    # The library makes its own S3 client from the session; moto needs its endpoint
    # and path-style addressing.
    s3 = boto3.session.Session(**creds).client(
        "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
    )
    sqs.s3_client = s3
    sqs.large_payload_support = bucket
    sqs.delete_payload_from_s3 = True

    text = "py" * (size // 2)
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}},
    }
    attributes = {
        "MessageType": {"DataType": "String", "StringValue": "jsonrpc"},
        "ReplyTo": {"DataType": "String", "StringValue": reply_queue},
        "ClientId": {"DataType": "String", "StringValue": "python-extended"},
    }
    # The library rewrites the call: payload to S3, pointer body, ExtendedPayloadSize.
    sqs.send_message(QueueUrl=server_queue, MessageBody=json.dumps(request), MessageAttributes=attributes)
    print(json.dumps({"step": "sent"}), flush=True)

    deadline = time.time() + 60
    while time.time() < deadline:
        got = sqs.receive_message(
            QueueUrl=reply_queue, MessageAttributeNames=["All"], WaitTimeSeconds=1, MaxNumberOfMessages=1
        )
        for message in got.get("Messages", []):
            reply = json.loads(message["Body"])
            echoed = reply["result"]["content"][0]["text"]
            print(
                json.dumps(
                    {
                        "step": "reply",
                        "id": reply.get("id"),
                        "size": len(message["Body"].encode("utf-8")),
                        "text_ok": echoed == text,
                        "receipt_handle": message["ReceiptHandle"],
                        "attributes": sorted(message.get("MessageAttributes", {}).keys()),
                    }
                ),
                flush=True,
            )
            sqs.delete_message(QueueUrl=reply_queue, ReceiptHandle=message["ReceiptHandle"])
            left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            print(json.dumps({"step": "deleted", "objects_left": left}), flush=True)
            return 0
    print(json.dumps({"step": "timeout"}), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
