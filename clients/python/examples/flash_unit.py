#!/usr/bin/env python3
"""Signs and appends one unit's whole flow to a flashtrail ledger, then verifies what the ledger holds.

What a test executive does per unit, with the flashtrail_client library:

  1. reads the batch and its approved release from the ledger, and refuses images that are not the release's;
  2. continues the unit's hash chain from the ledger's stream head (so a rework or a restart chains correctly);
  3. signs each step with the station key and appends it as it happens, checking that the ledger stored
     exactly the bytes signed (its digest is ours):
       UnitScanned → BootloaderWritten → AppVerified → ProvisioningApplied → EfuseBurned → UnitShipped
     (with --rework REASON the flow starts with UnitReworked instead of a scan);
  4. reads back the unit's stream and re-verifies it: every envelope decodes strictly, is signed by its
     station's key and carries its predecessor's digest as prev;
  5. with an auditor token (a station token may not read provenance), fetches the unit's provenance
     document and verifies it offline against the pinned ledger key: the checkpoint signature, the trust
     chain to this station's key, every signature, every prev link and every inclusion proof.

The image hashes are computed here from the files that were flashed; the application hash the device
reported (at boot, or read back from flash) is --reported-sha256. A mismatch is recorded as a failed
AppVerified and the unit goes to rework (exit 1), as the ledger's rules require.

Exit status: 0 shipped and verified, 1 refused or failed (one line on stderr), 2 usage.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flashtrail_client import (  # noqa: E402
    EventSigner, KeyFileError, LedgerClient, LedgerError, LedgerUnreachable, VerificationError,
    parse_verifier_key, read_secret_key_file, verify_chain, verify_provenance,
)


class Refused(Exception):
    """A reason to stop this unit, said in one line."""


def file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def fuse(text: str) -> dict:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return {"name": name, "value": value}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Sign and append one unit's flow to a flashtrail ledger, then verify it.")
    p.add_argument("--url", required=True, help="the ledger, e.g. http://127.0.0.1:8080")
    p.add_argument("--token-file", required=True, help="file holding this station's bearer token")
    p.add_argument("--key", required=True, help="this station's key file (flashtrail-ed25519-secret-key-v1, mode 0600)")
    p.add_argument("--station", required=True, help="station id, as registered")
    p.add_argument("--batch", required=True, help="the open batch the unit belongs to")
    p.add_argument("--serial", required=True)
    p.add_argument("--operator", default=os.environ.get("USER", "operator"))
    p.add_argument("--hardware-revision", default="rev-A")
    p.add_argument("--bootloader", required=True, metavar="IMAGE", help="the bootloader image written")
    p.add_argument("--bootloader-version", help="default: the release's version")
    p.add_argument("--signing-key-ref", default="secure-boot-key", help="name of the secure-boot signing key")
    p.add_argument("--application", required=True, metavar="IMAGE", help="the application image written")
    p.add_argument("--reported-sha256", required=True, metavar="HEX", help="the application hash the device reported")
    p.add_argument("--provisioning-template", required=True, metavar="FILE")
    p.add_argument("--template-id", help="default: the template's file name without its extension")
    p.add_argument("--provisioning-config", required=True, metavar="FILE", help="the rendered, unit-specific configuration")
    p.add_argument("--fuse", type=fuse, action="append", required=True, metavar="NAME=VALUE", help="an eFuse as burned (repeat)")
    p.add_argument("--customer", required=True)
    p.add_argument("--order", required=True, help="the customer order reference")
    p.add_argument("--rework", metavar="REASON", help="the unit failed before: record the rework, then flash it again")
    p.add_argument("--auditor-token-file", metavar="FILE", help="an auditor's token: verify the unit's provenance document offline too")
    p.add_argument("--ledger-key", metavar="KEY|@FILE", help="the pinned verifier key for that; without it the key the ledger serves is used")
    return p.parse_args(argv)


def flash(args: argparse.Namespace) -> int:
    key = read_secret_key_file(args.key)
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    ledger = LedgerClient(args.url, token)

    # 1. What the line is meant to flash: the batch's approved release, as the ledger recorded it.
    batch = ledger.batch(args.batch)
    if batch["status"] != "open":
        raise Refused(f"batch {args.batch} is {batch['status']}")
    release = ledger.release(batch["batch"]["releaseId"])["release"]
    bootloader_sha, bootloader_size = file_digest(args.bootloader)
    application_sha, application_size = file_digest(args.application)
    template_sha, _ = file_digest(args.provisioning_template)
    config_sha, _ = file_digest(args.provisioning_config)
    for what, actual, expected in (
        ("bootloader", bootloader_sha, release["bootloaderSha256"]),
        ("application", application_sha, release["applicationSha256"]),
        ("provisioning template", template_sha, release["provisioningTemplateSha256"]),
    ):
        if actual != expected:
            raise Refused(f"the {what} image hashes to {actual[:12]}…, not release {release['releaseId']}'s {expected[:12]}…")

    # 2. Continue the unit's chain from the ledger's head (null for a new unit).
    signer = EventSigner(key, args.station)
    stream = "unit-" + args.serial
    revision, head = ledger.stream_head(stream)
    signer.set_head(stream, head)
    print(f"{stream}: {'new' if head is None else f'head at revision {revision}, {head[:12]}…'}")

    def record(event_type: str, data: dict) -> None:
        signed = signer.sign(event_type, data)
        [appended] = ledger.append([signed.envelope])
        if appended["digest"] != signed.digest:
            raise Refused(f"the ledger stored {event_type} as {appended['digest']}, not the envelope signed ({signed.digest})")
        print(f"  {event_type:<20} revision {appended['revision']:<3} position {appended['position']:<5} {signed.digest[:16]}…")

    # 3. The flow, each step signed and appended when it happens.
    serial = args.serial
    if args.rework:
        record("UnitReworked", {"serial": serial, "reason": args.rework})
    else:
        record("UnitScanned", {
            "serial": serial, "batchId": args.batch, "station": args.station, "operator": args.operator,
            "productSku": release["productSku"], "hardwareRevision": args.hardware_revision,
        })
    record("BootloaderWritten", {
        "serial": serial, "imageSha256": bootloader_sha, "version": args.bootloader_version or release["version"],
        "sizeBytes": bootloader_size, "signingKeyRef": args.signing_key_ref, "signingKeyDigest": release["signingKeyDigest"],
    })
    reported = args.reported_sha256.lower()
    verified = reported == application_sha
    record("AppVerified", {
        "serial": serial, "imageSha256": application_sha, "version": release["version"], "sizeBytes": application_size,
        "reportedSha256": reported, "method": "device_report", "result": "pass" if verified else "fail",
    })
    if not verified:
        raise Refused(f"app verification FAILED: the device runs {reported[:12]}…, not the image written ({application_sha[:12]}…); rework the unit")
    record("ProvisioningApplied", {"serial": serial, "templateId": args.template_id or os.path.splitext(os.path.basename(args.provisioning_template))[0], "templateSha256": template_sha, "configSha256": config_sha})
    fuses = {f["name"]: f["value"] for f in args.fuse}
    record("EfuseBurned", {
        "serial": serial, "profile": release["efuseProfile"], "fuses": args.fuse, "keyDigests": [release["signingKeyDigest"]],
        # ESP32 semantics: secure boot is on when SECURE_BOOT_EN is 1; flash encryption when SPI_BOOT_CRYPT_CNT has an odd number of bits set.
        "secureBoot": fuses.get("SECURE_BOOT_EN") == "1",
        "flashEncryption": bin(int(fuses.get("SPI_BOOT_CRYPT_CNT", "0"), 0)).count("1") % 2 == 1,
    })
    record("UnitShipped", {"serial": serial, "customer": args.customer, "orderRef": args.order})

    # 4. Read back the unit's stream and re-verify it: strict decoding, signatures, the prev chain, our bytes.
    station_keys: dict[str, dict[str, bytes]] = {args.station: {key.key_id: key.public_key}}

    def public_key_of(key_id: str, event: dict) -> bytes | None:
        station = event["source"]["id"]
        if station not in station_keys:  # another station worked on this unit: ask the ledger for its keys
            station_keys[station] = {k["keyId"]: bytes.fromhex(k["publicKey"]) for k in ledger.station(station)["keys"]}
        return station_keys[station].get(key_id)

    history = ledger.unit_events(serial)["events"]
    chain = verify_chain([h["envelope"] for h in history], public_key_of)
    for stored, decoded in zip(history, chain):
        if stored["digest"] != decoded.digest:
            raise Refused(f"the ledger reports {stored['digest'][:16]}… for the envelope hashing to {decoded.digest[:16]}…")
    print(f"  ok  chain      {len(chain)} events of {serial}: signatures valid (RFC 8032 strict), hash chain unbroken, stored as signed")
    if not args.auditor_token_file:
        print(f"{serial} shipped: {len(chain)} events in the chain")
        return 0

    # 5. Verify the provenance document offline, trusting only the pinned ledger key.
    with open(args.auditor_token_file, encoding="utf-8") as f:
        auditor = LedgerClient(args.url, f.read().strip())
    key_text = args.ledger_key
    if key_text is None:
        key_text = auditor.ledger_key()
        print("  (verifying against the key the ledger serves; pin it with --ledger-key for an audit)")
    elif key_text.startswith("@"):
        with open(key_text[1:], encoding="utf-8") as f:
            key_text = f.read()
    report = verify_provenance(auditor.provenance(serial), parse_verifier_key(key_text))
    for step in report.steps:
        print(f"  ok  {step['step']:<11}{step['detail']}")
    print(f"{serial} shipped: {report.events} events in the chain; provenance verified offline against {report.checkpoint['origin']} size {report.checkpoint['size']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return flash(args)
    except Refused as error:
        print(f"{args.serial}: {error}", file=sys.stderr)
    except LedgerError as error:
        print(f"{args.serial}: the ledger refused: {error}", file=sys.stderr)
    except (LedgerUnreachable, KeyFileError) as error:
        print(f"{args.serial}: {error}", file=sys.stderr)
    except VerificationError as error:
        print(f"{args.serial}: verification FAILED at {error.step}: {error.code}: {error}", file=sys.stderr)
    except ValueError as error:  # a malformed --ledger-key
        print(f"{args.serial}: {error}", file=sys.stderr)
    except OSError as error:
        print(f"{args.serial}: {error.filename}: {error.strerror}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
