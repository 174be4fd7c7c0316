#!/usr/bin/env python3
"""Publish a BackupCreated event to Continuity from Python, with nothing but the standard library.

An external backup tool (a storage snapshot, a SaaS export, a cron job with restic) tells
Continuity about a backup it took: the verifier reads its copies back and the audit ledger records
it. The contract is the JSON Schema in libs/contracts/schemas/ (also in libs/contracts/asyncapi.yaml):
this script builds the event, validates it against that schema, and publishes it to JetStream on
`<namespace>.events.BackupCreated.<resource>` with the event id as `Nats-Msg-Id` (JetStream then
drops a second publish of the same event), waiting for the stream's acknowledgement.

NATS client: the NATS protocol is text over TCP (INFO/CONNECT, HPUB with headers, SUB for the
acknowledgement), spoken here with `socket`, so the example runs where only Python is installed.
With the `nats-py` package the same publish is `await js.publish(subject, body, headers={...})`.
Authentication: none or user/password in the URL (nats://user:pass@host:4222); an nkey identity
(what deploy/nats/identities.yaml gives each publisher) needs Ed25519 signing, i.e. `nats-py`.

Validation: `jsonschema` when it is installed, otherwise a small built-in validator of the JSON
Schema keywords the contracts use (type, properties, required, additionalProperties, const, enum,
pattern, lengths, bounds, items, anyOf). CONTINUITY_SCHEMA_VALIDATOR=builtin forces the latter.

Continuity accepts a BackupCreated from an external publisher only for the resources listed for
it (CONTINUITY_PUBLISHERS=billing=billing-archive on every service): any other is dead-lettered.

    python3 publish_backup_created.py --source billing --resource billing-archive \\
        --copy 'vault-a,site-a,disk,file:///backups/billing/2026-12-01.tar,<sha256>,<bytes>' ...
"""
import argparse
import json
import os
import re
import secrets
import socket
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

SCHEMAS = Path(__file__).resolve().parents[2] / "libs" / "contracts" / "schemas"


def uuid7() -> str:
    """A UUID version 7 (time-ordered), which the envelope's `id` requires."""
    ms = int(time.time() * 1000)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(timezone.utc).microsecond // 1000:03d}Z"


# ─── validation ──────────────────────────────────────────────────────────────────────────────


def _type_ok(value, expected) -> bool:
    if isinstance(expected, list):
        return any(_type_ok(value, t) for t in expected)
    return {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(expected, False)


def builtin_errors(value, schema, path="$"):
    """The errors of `value` against `schema`, for the keywords the Continuity contracts use."""
    errors = []
    if "anyOf" in schema and not any(not builtin_errors(value, option, path) for option in schema["anyOf"]):
        # Say why for the option of the value's own type (the object, not the null it could also be).
        same_type = [o for o in schema["anyOf"] if "type" in o and _type_ok(value, o["type"])]
        errors += builtin_errors(value, same_type[0], path) if same_type else [f"{path}: matches none of the allowed shapes"]
    if "type" in schema and not _type_ok(value, schema["type"]):
        return errors + [f"{path}: must be {schema['type']}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        errors.append(f"{path}: must be {json.dumps(schema['const'])}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match {schema['pattern']}")
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{path}: must be above {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors += builtin_errors(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}.{key}: is required" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += builtin_errors(item, properties[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: is not allowed")
    return errors


def validate(event: dict) -> tuple[str, list[str]]:
    """Validates the whole event against its JSON Schema; returns (validator used, errors)."""
    schema = json.loads((SCHEMAS / f"{event['type']}.v{event['version']}.json").read_text())
    if os.environ.get("CONTINUITY_SCHEMA_VALIDATOR") != "builtin":
        try:
            import jsonschema  # optional
        except ImportError:
            pass
        else:
            validator = jsonschema.Draft202012Validator(schema)
            return "jsonschema", [f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
    return "builtin", builtin_errors(event, schema)


# ─── NATS, spoken with a socket ──────────────────────────────────────────────────────────────


class Nats:
    """Just enough of the NATS client protocol to publish with headers and read one reply."""

    def __init__(self, url: str, timeout: float = 5.0):
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout)
        self.buffer = b""
        info = json.loads(self._line().split(b" ", 1)[1])
        if not info.get("headers"):
            raise RuntimeError("this NATS server does not support headers (NATS 2.2 or later needed)")
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "lang": "python-stdlib", "version": "1.0", "protocol": 1}
        if parsed.username:
            connect.update(user=parsed.username, **{"pass": parsed.password or ""})
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self._expect_pong()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _bytes(self, n: int) -> bytes:
        while len(self.buffer) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n + 2 :]
        return data

    def _expect_pong(self):
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS refused: {line.decode()}")

    def request(self, subject: str, headers: dict, payload: bytes) -> tuple[str, bytes]:
        """HPUB with a reply inbox; returns the reply's status line ('' for a plain MSG) and body."""
        inbox = f"_INBOX.{secrets.token_hex(8)}"
        head = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        hbytes = head.encode()
        self.sock.sendall(
            f"SUB {inbox} 1\r\nUNSUB 1 1\r\n".encode()
            + f"HPUB {subject} {inbox} {len(hbytes)} {len(hbytes) + len(payload)}\r\n".encode()
            + hbytes
            + payload
            + b"\r\n"
        )
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS refused: {line.decode()}")
            elif line.startswith(b"MSG "):
                return "", self._bytes(int(line.split()[-1]))
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hlen, total = int(parts[-2]), int(parts[-1])
                data = self._bytes(total)
                return data[:hlen].split(b"\r\n", 1)[0].decode(), data[hlen:]

    def close(self):
        self.sock.close()


def publish(url: str, subject: str, event: dict) -> dict:
    """Publishes to JetStream and returns its acknowledgement ({"stream", "seq", "duplicate"?})."""
    nc = Nats(url)
    try:
        status, body = nc.request(subject, {"Nats-Msg-Id": event["id"]}, json.dumps(event, separators=(",", ":")).encode())
    finally:
        nc.close()
    if "503" in status:
        raise RuntimeError(f"no JetStream stream takes {subject} (is Continuity running in this namespace?)")
    ack = json.loads(body)
    if "error" in ack:
        raise RuntimeError(f"JetStream refused the event: {ack['error']}")
    return ack


# ─── the event ───────────────────────────────────────────────────────────────────────────────


def parse_copy(text: str) -> dict:
    location, site, medium, uri, sha256, size = text.split(",", 5)
    return {"location": location, "site": site, "medium": medium, "uri": uri, "sha256": sha256, "sizeBytes": int(size), "manifestUri": None}


def build_event(args) -> dict:
    copies = [parse_copy(c) for c in args.copy]
    sites = {c["site"] for c in copies}
    media = {c["medium"] for c in copies}
    failed = [rule for rule, ok in (("three-copies", len(copies) >= 3), ("two-media", len(media) >= 2), ("one-offsite", len(sites) >= 2)) if not ok]
    event_id = uuid7()
    return {
        "id": event_id,
        "type": "BackupCreated",
        "version": 2,
        "source": args.source,
        "resource": args.resource,
        "occurredAt": utc_now(),
        "correlationId": event_id,
        "causationId": None,
        "data": {
            "backupId": args.backup_id or str(uuid.uuid4()),
            "resourceKind": "external",
            "method": args.method,
            "recoveryPoint": args.recovery_point or utc_now(),
            "sizeBytes": args.size_bytes,
            "sha256": args.sha256,
            "copies": copies,
            "policy": None,
            "plaintext": None,
            "encryption": None,
            "threeTwoOne": {"compliant": not failed, "resourceSite": None, "failedRules": failed, "optOut": None},
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--namespace", default=os.environ.get("CONTINUITY_NAMESPACE", "continuity"))
    parser.add_argument("--source", required=True, help="your publisher name (as in CONTINUITY_PUBLISHERS)")
    parser.add_argument("--resource", required=True)
    parser.add_argument("--method", default="external")
    parser.add_argument("--backup-id")
    parser.add_argument("--recovery-point", help="ISO-8601 UTC, e.g. 2026-12-01T10:00:00.000Z (default: now)")
    parser.add_argument("--size-bytes", type=int, required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--copy", action="append", required=True, help="location,site,medium,uri,sha256,sizeBytes (repeat per copy)")
    parser.add_argument("--dry-run", action="store_true", help="validate and print the event, do not publish")
    args = parser.parse_args(argv)

    event = build_event(args)
    validator, errors = validate(event)
    if errors:
        print(json.dumps({"published": False, "validator": validator, "errors": errors}, indent=1), file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps({"published": False, "validator": validator, "event": event}, indent=1))
        return 0
    subject = f"{args.namespace}.events.{event['type']}.{event['resource']}"
    ack = publish(args.nats, subject, event)
    print(json.dumps({"published": True, "validator": validator, "subject": subject, "eventId": event["id"], "backupId": event["data"]["backupId"], "ack": ack}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
