"""flashtrail's Ed25519 secret key files (`flashtrail-ed25519-secret-key-v1`), readable by `flashtrail` itself.

A key file is JSON, written with mode 0600, durably (fsync of the file and of its directory), and never
over an existing file; reading refuses a file that anyone but its owner can read, as ssh does, because a
leaked station key lets anyone forge that station's history.
"""
from __future__ import annotations

import json
import os
import re
import stat

from .ed25519 import SigningKey

SECRET_KEY_FILE_TYPE = "flashtrail-ed25519-secret-key-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class KeyFileError(Exception):
    """A key file that cannot be used; the message names the file and what to do."""


def write_secret_key_file(path: str, key: SigningKey, comment: str | None = None) -> None:
    body = {"type": SECRET_KEY_FILE_TYPE, "keyId": key.key_id, "publicKey": key.public_key.hex(), "secretKey": key.secret_key.hex()}
    if comment:
        body["comment"] = comment
    data = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_secret_key_file(path: str) -> SigningKey:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    if os.name == "posix" and mode & 0o077:
        raise KeyFileError(f"key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600 {path})")
    with open(path, "rb") as f:
        text = f.read(64 * 1024)
    try:
        body = json.loads(text.decode("utf-8"))
        if not isinstance(body, dict) or body.get("type") != SECRET_KEY_FILE_TYPE:
            raise ValueError
        extra = set(body) - {"type", "keyId", "publicKey", "secretKey", "comment"}
        fields = [body.get(name) for name in ("keyId", "publicKey", "secretKey")]
        if extra or not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in fields):
            raise ValueError
    except ValueError:
        raise KeyFileError(f"key file {path} is empty or damaged (not a {SECRET_KEY_FILE_TYPE} file): restore it from your backup") from None
    key = SigningKey.from_seed(bytes.fromhex(body["secretKey"]))
    if key.public_key.hex() != body["publicKey"] or key.key_id != body["keyId"]:
        raise KeyFileError(f"key file {path} is inconsistent: its public key does not match its secret key")
    return key
