"""python3 -m flashtrail_client keygen | verify-provenance (exit 0 done, 1 failed, 2 usage)."""
from __future__ import annotations

import argparse
import json
import sys

from .ed25519 import SigningKey
from .keyfile import KeyFileError, write_secret_key_file
from .provenance import VerificationError, parse_verifier_key, verify_provenance


def keygen(args: argparse.Namespace) -> int:
    key = SigningKey.generate()
    write_secret_key_file(args.out, key, args.comment)
    print(json.dumps({"keyFile": args.out, "keyId": key.key_id, "publicKey": key.public_key.hex(), "algorithm": "ed25519"}, indent=2))
    return 0


def verify_provenance_command(args: argparse.Namespace) -> int:
    key_text = args.ledger_key
    if key_text.startswith("@"):
        with open(key_text[1:], encoding="utf-8") as f:
            key_text = f.read()
    try:
        ledger_key = parse_verifier_key(key_text)
    except ValueError as error:
        print(f"--ledger-key: {error}", file=sys.stderr)
        return 1
    with open(args.file, "rb") as f:
        try:
            doc = json.loads(f.read(256 * 1024 * 1024).decode("utf-8"))
        except ValueError as error:
            print(f"{args.file} is not JSON: {error}", file=sys.stderr)
            return 1
    try:
        report = verify_provenance(doc, ledger_key)
    except VerificationError as error:
        if args.json:
            print(json.dumps({"ok": False, "error": {"code": error.code, "step": error.step, "message": str(error), "location": error.location}}, indent=2, ensure_ascii=False))
        else:
            print(f"  FAIL  {error.step:<13}{error.code}: {error}")
        return 1
    if args.json:
        print(json.dumps({"ok": True, "report": report.__dict__}, indent=2, ensure_ascii=False))
    else:
        print(f"verifying provenance of unit {report.serial} ({args.file})")
        for step in report.steps:
            print(f"  ok  {step['step']:<13}{step['detail']}")
        application = ", ".join(h[:10] + "…" for h in report.firmware["application"]) or "none verified"
        print(f"verified: {report.events} events by {', '.join(report.stations)}; application {application}; "
              f"checkpoint {report.checkpoint['origin']} size {report.checkpoint['size']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m flashtrail_client", description="flashtrail signing client")
    commands = parser.add_subparsers(dest="command", required=True)
    k = commands.add_parser("keygen", help="write a new Ed25519 key file (0600, never overwritten); print its public half")
    k.add_argument("--out", required=True, metavar="FILE")
    k.add_argument("--comment")
    k.set_defaults(run=keygen)
    v = commands.add_parser("verify-provenance", help="verify a unit's provenance document offline against the pinned ledger key")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--ledger-key", required=True, metavar="KEY|@FILE")
    v.add_argument("--json", action="store_true", help="print the report, or the failure, as JSON")
    v.set_defaults(run=verify_provenance_command)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (KeyFileError, OSError) as error:
        print(error if isinstance(error, KeyFileError) else f"{error.filename}: {error.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
