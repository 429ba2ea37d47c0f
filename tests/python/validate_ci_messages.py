"""Validates every fixture in fixtures/ci-messages/ against the schema for its topic.

The schemas are checked through the `ci-messages` package itself: its fedora-messaging
class `CIMessageV1` picks `<artifact>.<event>.<status>.json` from its configured
`schemapath` by the message's topic and validates the body with jsonschema (jsonref
resolving `$ref`s from that directory), exactly as a fedora-messaging consumer does.

The package ships no schema files (it expects the CI Messages spec's converted schemas in
/usr/share/message-schemas/ci), so the per-topic schemas are composed here from the parts
in tests/python/ci-messages-schemas/, a transcription of the spec's field shapes and
required fields (see docs/ci-messages.md). Bad fixtures (fixtures/ci-messages/bad/) must fail.

Prints one line per fixture and "ALL OK" when every fixture got the expected verdict.
"""

import json
import pathlib
import sys
import tempfile

from ci_messages.config import CONFIG
from ci_messages.schema import CIMessageV1
import jsonschema
from fedora_messaging.exceptions import ValidationError

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARTS = ROOT / "tests/python/ci-messages-schemas"
FIXTURES = ROOT / "fixtures/ci-messages"

ARTIFACTS = {
    "koji-build": "rpm-build.json",
    "brew-build": "rpm-build.json",
    "koji-build-group": "rpm-build-group.json",
    "brew-build-group": "rpm-build-group.json",
    "fedora-update": "fedora-update.json",
    "productmd-compose": "productmd-compose.json",
    "redhat-module": "module-build.json",
    "fedora-module": "module-build.json",
    "redhat-container-image": "container-image.json",
}


def topic_schema(artifact, status):
    """One `<artifact>.test.<status>` schema, composed as the spec composes it."""
    test = {"$ref": "test-common.json"}
    props = {
        "contact": {"$ref": "contact.json"},
        "run": {"$ref": "run.json"},
        "artifact": {"$ref": ARTIFACTS[artifact]},
        "pipeline": {"$ref": "pipeline.json"},
        "notification": {"$ref": "notification.json"},
        "system": {"$ref": "system.json"},
        "version": {"type": "string"},
        "generated_at": {"type": "string"},
    }
    required = ["contact", "run", "artifact", "test", "version", "generated_at"]
    if status == "complete":
        test = {"allOf": [test, {"$ref": "test-complete.json"}]}
        required.append("system")
    if status == "error":
        props["error"] = {"$ref": "error.json"}
        required.append("error")
    props["test"] = test
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"{artifact}.test.{status}",
        "type": "object",
        "required": required,
        "properties": props,
    }


def check(path, expect_valid):
    doc = json.loads(path.read_text())
    # Bus prefixes differ (org.centos.prod.ci., /topic/VirtualTopic.eng.ci.); the class
    # keeps the last three parts of the topic.
    msg = CIMessageV1(topic=doc["topic"].lstrip("/"), body=doc["body"])
    try:
        msg.validate()
        valid, why = True, ""
    except (ValidationError, jsonschema.exceptions.ValidationError) as e:
        valid, why = False, getattr(e, "message", str(e)).splitlines()[0]
    ok = valid == expect_valid
    state = "valid" if valid else f"invalid ({why})"
    print(f"{'ok  ' if ok else 'FAIL'} {path.relative_to(ROOT)}: {state} -- {msg.summary}")
    return ok


def main():
    with tempfile.TemporaryDirectory() as tmp:
        schemas = pathlib.Path(tmp)
        for part in PARTS.glob("*.json"):
            (schemas / part.name).write_text(part.read_text())
        for artifact in ARTIFACTS:
            for status in ("queued", "running", "complete", "error"):
                name = f"{artifact}.test.{status}.json"
                (schemas / name).write_text(json.dumps(topic_schema(artifact, status)))
        CONFIG.set("main", "schemapath", str(schemas))
        results = []
        for path in sorted(FIXTURES.glob("*.json")):
            if "testcase" in json.loads(path.read_text())["body"]:
                print(f"n/a  {path.relative_to(ROOT)}: a ResultsDB result, no CI schema applies")
                continue
            results.append(check(path, True))
        for path in sorted((FIXTURES / "bad").glob("*.json")):
            results.append(check(path, False))
    if len(results) < 10 or not all(results):
        print(f"{results.count(False)} of {len(results)} fixtures got the wrong verdict")
        return 1
    print("ALL OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
