"""
The wire between the stand-in tools (esptool, espefuse, blhost) and the scripted device, over a real
serial port (a socat pseudo-terminal pair in the tests), plus the stand-in firmware formats they share.

No hardware is at hand, so the tools cannot speak the ROM's SLIP protocol to silicon; they speak one JSON
request per line to test/station/device.py instead, through the same serial port the station uses. What
matters is kept real:
  - esptool and espefuse open the port with pyserial exclusive=True (as esptool's loader.py does), so a
    station that holds the port makes them fail with esptool's own "port is busy" message; blhost opens it
    without a lock, as SPSDK does;
  - the device answers only on the wire: a reader that shares the tty (an agent that kept the port open)
    takes bytes the tool then never sees, and the tool fails to connect, as on a real line;
  - the device prints its boot log on the same port after a reset, with CRLF line endings.

Stand-in crypto (NOT Espressif's AES-XTS, NOT NXP's SB2.1): a SHA-256 keystream keyed by the key and the
flash address of each 32-byte block, so that images encrypted on the host decrypt only on a device with
the same key burned, at the same address.
"""

import base64
import hashlib
import json
import struct
import sys
import time

import serial

MARK = b"\x02FT:"


class PortBusy(Exception):
    pass


def open_port(port, exclusive, baud=115200):
    """Opens the port as the real tool does; raises serial.SerialException with pyserial's own text."""
    return serial.Serial(port, baud, timeout=0.05, exclusive=exclusive)


def request(ser, op, timeout=1.0, **args):
    """One request to the device; returns its answer (a dict) or None when nothing came back in time."""
    ser.reset_input_buffer()
    ser.write(MARK + json.dumps({"op": op, **args}).encode() + b"\n")
    ser.flush()
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        chunk = ser.read(65536)
        if chunk:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                i = line.find(MARK)
                if i >= 0:
                    return json.loads(line[i + len(MARK):].decode())
    return None


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text.encode())


def keystream_xor(key, address, data):
    """The stand-in for flash encryption: XOR with SHA-256(key || block address), per 32-byte block."""
    out = bytearray(len(data))
    for i in range(0, len(data), 32):
        block = address + i
        ks = hashlib.sha256(key + struct.pack("<Q", block)).digest()
        for j, b in enumerate(data[i:i + 32]):
            out[i + j] = b ^ ks[j]
    return bytes(out)


# ---- stand-in firmware formats -------------------------------------------------------------------

ESP_IMAGE_MAGIC = 0xE9
APP_DESC_MAGIC = 0xABCD5432
SIG_BLOCK_MAGIC = 0xE7


def esp_image(chip_id, segments, entry=0x40375338):
    """An ESP image: 24-byte header, then (load address, length, data) segments, padded to 16 with a checksum byte."""
    header = struct.pack("<BBBBI", ESP_IMAGE_MAGIC, len(segments), 0x02, 0x2F, entry)
    header += struct.pack("<B3sHBHH4sB", 0xEE, b"\x00\x00\x00", chip_id, 0, 0, 99, b"\x00" * 4, 0)
    body = b""
    for load, data in segments:
        body += struct.pack("<II", load, len(data)) + data
    image = header + body
    pad = 15 - (len(image) % 16)
    return image + b"\x00" * pad + b"\xef"


def app_desc(version, project, idf_ver, elf_sha256, date="Jun 12 2025", time_="10:15:39"):
    """esp_app_desc_t: magic, secure_version, reserved, version[32], project_name[32], time[16], date[16], idf_ver[32], app_elf_sha256[32]."""
    pad = lambda s, n: s.encode()[:n].ljust(n, b"\x00")
    return struct.pack("<III4x", APP_DESC_MAGIC, 0, 0) + pad(version, 32) + pad(project, 32) + pad(time_, 16) + pad(date, 16) + pad(idf_ver, 32) + elf_sha256 + b"\x00" * 60


def parse_app(image):
    """The application description of an app image (None when it is not one)."""
    if len(image) < 0x20 + 0xB0 or image[0] != ESP_IMAGE_MAGIC:
        return None
    desc = image[0x20:]
    magic, = struct.unpack("<I", desc[:4])
    if magic != APP_DESC_MAGIC:
        return None
    text = lambda a, n: desc[a:a + n].split(b"\x00")[0].decode(errors="replace")
    return {
        "version": text(0x10, 32),
        "project": text(0x30, 32),
        "time": text(0x50, 16),
        "date": text(0x60, 16),
        "idf": text(0x70, 32),
        "elf_sha256": desc[0x90:0xB0].hex(),
        "segments": image_segments(image),
    }


def image_segments(image):
    count = image[1]
    at = 24
    out = []
    for _ in range(count):
        if at + 8 > len(image):
            break
        load, length = struct.unpack("<II", image[at:at + 8])
        out.append((at + 8, load, length))
        at += 8 + length
    return out


def signature_block(key_digest):
    """The stand-in Secure Boot v2 signature block: magic, version 2, and the digest of the signing public key."""
    return bytes([SIG_BLOCK_MAGIC, 0x02, 0, 0]) + key_digest + b"\x00" * (1216 - 36)


def sign(image, key_digest):
    """Pads the image to a 4 KiB sector and appends the signature block (espsecure sign-data --version 2 does the same, with RSA-PSS)."""
    padded = image + b"\xff" * ((-len(image)) % 4096)
    return padded + signature_block(key_digest)


def signature_digest(image):
    """The key digest in an image's signature block, or None when it has none."""
    i = len(image) - 1216
    while i >= 0 and i % 4096 != 0:
        i -= 1
    if i < 0 or image[i] != SIG_BLOCK_MAGIC:
        return None
    return image[i + 4:i + 36]


def partition_table(entries):
    """ESP partition table entries: magic 0x50AA, type, subtype, offset, size, label[16], flags; then the MD5 entry."""
    out = b""
    for ptype, subtype, offset, size, label in entries:
        out += struct.pack("<HBBII16sI", 0x50AA, ptype, subtype, offset, size, label.encode().ljust(16, b"\x00"), 0)
    out += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(out).digest()
    return out + b"\xff" * (0xC00 - len(out))


def parse_partition_table(data):
    out = []
    for i in range(0, len(data) - 32, 32):
        magic, ptype, subtype, offset, size, label, flags = struct.unpack("<HBBII16sI", data[i:i + 32])
        if magic != 0x50AA:
            break
        out.append((ptype, subtype, offset, size, label.split(b"\x00")[0].decode(errors="replace")))
    return out


SB_TAG = b"sgtl"


def sb_container(sbkek, load_address, payload):
    """The stand-in SB2.1 container: tag, load address, length, HMAC-SHA256 under the SBKEK, encrypted payload."""
    import hmac
    mac = hmac.new(sbkek, payload, hashlib.sha256).digest()
    return SB_TAG + struct.pack("<II", load_address, len(payload)) + mac + keystream_xor(sbkek, load_address, payload)


def open_sb(sbkek, data):
    """(load address, payload), or a ROM status code: 10101 signature error, 10118 bad SBKEK."""
    import hmac
    if data[:4] != SB_TAG:
        return 10101
    load, length = struct.unpack("<II", data[4:12])
    mac = data[12:44]
    payload = keystream_xor(sbkek, load, data[44:44 + length])
    if not hmac.compare_digest(mac, hmac.new(sbkek, payload, hashlib.sha256).digest()):
        return 10118
    return (load, payload)


CMPA_ADDRESS = 0x9E400


def cmpa_page(secure_boot):
    """A 512-byte CMPA page: the secure-boot setting, and its SHA-256 seal in the last 32 bytes."""
    body = struct.pack("<I", 0x00000030 if secure_boot else 0) + b"\x00" * (480 - 4)
    return body + hashlib.sha256(body).digest()


def cmpa_secure(page):
    if len(page) != 512 or hashlib.sha256(page[:480]).digest() != page[480:]:
        return False
    return struct.unpack("<I", page[:4])[0] & 0x30 == 0x30


def fatal(message, code=2, stdout_lines=()):
    for line in stdout_lines:
        print(line)
    sys.stdout.flush()
    sys.stderr.write("\nA fatal error occurred: " + message + "\n")
    sys.exit(code)
