"""Publishes N CI messages (the koji-build complete fixture, a new nvr and message id each)
to amq.topic for benches/consume.sh, persistent, with publisher confirms. Needs pika."""
import json
import sys

import pika

url, queue, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fixture = json.load(open("fixtures/ci-messages/koji-build.test.complete-1.1.14.json"))
conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
ch.queue_declare(queue=queue, durable=True)
ch.queue_declare(queue=queue + ".rejected", durable=True)
ch.queue_bind(queue=queue, exchange="amq.topic", routing_key=queue + ".#")
ch.confirm_delivery()
topic = queue + "." + fixture["topic"]
body = fixture["body"]
props = lambda i: pika.BasicProperties(delivery_mode=2, message_id=f"bench-{i}", content_type="application/json")
for i in range(n):
    body["artifact"]["nvr"] = f"pkg{i % 5000}-1.0-{i // 5000}.fc40"
    body["artifact"]["id"] = 100000 + i
    ch.basic_publish("amq.topic", topic, json.dumps(body).encode(), props(i))
conn.close()
