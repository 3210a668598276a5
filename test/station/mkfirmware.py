#!/usr/bin/python3
"""
Builds a release's images as a build server would, in the stand-in formats of ftlink.py: what the line
flashes, so that the device's boot log and read-backs come from the bytes the station wrote.

  esp32s3   bootloader (0x0), partition table (0x8000), application (0x10000; ESP-IDF v5.4.1), each signed
            for Secure Boot v2 (key digest = SHA-256 of sb_key.pem) and then encrypted for its flash address
            with fe_key.bin (signed first, then encrypted, as Espressif's host-based workflow requires);
            app.elf, whose SHA-256 the application carries in its esp_app_desc_t
  esp32     bootloader (0x1000), partition table, application (ESP-IDF v5.1.4: it prints 16 hex characters)
  lpc55s69  app.bin (the signed application), firmware.sb (it, in an SB2.1 container under sbkek.bin), and
            cmpa.bin (the sealed CMPA page with secure boot enabled)

  mkfirmware.py --target esp32s3 --out DIR [--version 3.0.0] [--project sensor] [--variant X]
Writes DIR/manifest.json naming the files, offsets, ELF files and secrets.
"""

import argparse
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftlink  # noqa: E402


def deterministic(seed, n):
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
    return out[:n]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, choices=["esp32s3", "esp32", "lpc55s69"])
    p.add_argument("--out", required=True)
    p.add_argument("--version", default="3.0.0")
    p.add_argument("--project", default="sensor")
    p.add_argument("--variant", default="")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    w = lambda name, data: open(os.path.join(a.out, name), "wb").write(data)
    seed = f"{a.target} {a.project} {a.version} {a.variant}".encode()
    manifest = {"target": a.target, "images": {}, "secrets": {}}

    if a.target in ("esp32s3", "esp32"):
        s3 = a.target == "esp32s3"
        idf = "v5.4.1" if s3 else "v5.1.4"
        chip_id = 9 if s3 else 0
        elf = b"\x7fELF stand-in " + seed + deterministic(seed + b"elf", 4096)
        w("app.elf", elf)
        desc = ftlink.app_desc(a.version, a.project, idf, hashlib.sha256(elf).digest())
        app = ftlink.esp_image(chip_id, [(0x3C020020, desc + deterministic(seed + b"rodata", 8000)), (0x42000020, deterministic(seed + b"text", 20000))])
        bootloader = ftlink.esp_image(chip_id, [(0x3FCE2980, deterministic(seed + b"bl", 12000))], entry=0x403C8934)
        table = ftlink.partition_table([(1, 2, 0x9000, 0x6000, "nvs"), (1, 1, 0xF000, 0x1000, "phy_init"), (0, 0, 0x10000, 0x100000, "factory")])
        offsets = {"bootloader": 0x0 if s3 else 0x1000, "partition-table": 0x8000, "app": 0x10000}
        images = {"bootloader": bootloader, "partition-table": table, "app": app}
        if s3:
            fe_key = deterministic(seed + b"fe key", 32)
            sb_pem = b"-----BEGIN PUBLIC KEY-----\n" + __import__("base64").encodebytes(deterministic(seed + b"sb key", 398)) + b"-----END PUBLIC KEY-----\n"
            digest = hashlib.sha256(sb_pem).digest()
            w("fe_key.bin", fe_key)
            w("sb_key.pem", sb_pem)
            manifest["secrets"] = {"flash-encryption-key": "fe_key.bin", "secure-boot-public-key": "sb_key.pem"}
            manifest["secureBootKeyDigest"] = digest.hex()
            for name in ("bootloader", "app"):
                images[name] = ftlink.sign(images[name], digest)
            for name in images:
                images[name] = ftlink.keystream_xor(fe_key, offsets[name], images[name])
        for name, data in images.items():
            suffix = "-signed-enc" if s3 and name != "partition-table" else "-enc" if s3 else ""
            file = f"{name}{suffix}.bin"
            w(file, data)
            manifest["images"][name] = {"file": file, "offset": offsets[name], **({"elf": "app.elf"} if name == "app" else {})}
    else:
        sbkek = deterministic(seed + b"sbkek", 32)
        app = b"MBI stand-in " + seed + deterministic(seed + b"mbi", 30000)
        w("sbkek.bin", sbkek)
        w("app.bin", app)
        w("firmware.sb", ftlink.sb_container(sbkek, 0x0, app))
        w("cmpa.bin", ftlink.cmpa_page(True))
        manifest["secrets"] = {"sbkek": "sbkek.bin"}
        manifest["images"] = {
            "firmware-sb": {"file": "firmware.sb", "offset": 0},
            "app": {"file": "app.bin", "offset": 0, "deliveredIn": "firmware-sb"},
            "cmpa": {"file": "cmpa.bin", "offset": ftlink.CMPA_ADDRESS},
        }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
