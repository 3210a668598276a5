#!/usr/bin/python3
"""
A scripted device on the far end of the station's serial port: an ESP32-S3, an ESP32 or an LPC55S69, with
its eFuses (or key store and CMPA), its flash, and, for the Espressif chips, the boot log it prints after a
reset, line for line in ESP-IDF's format, from what its flash and eFuses hold:

  - the ROM banner (with "Valid secure boot key blocks" / "secure boot verification succeeded" when Secure
    Boot is on), then the 2nd-stage bootloader, then the application's start-up lines;
  - the application information comes from the esp_app_desc_t inside the app image at 0x10000, decrypted
    with the flash-encryption key burned into BLOCK_KEY0 when SPI_BOOT_CRYPT_CNT is odd: the ELF SHA-256
    it prints is the one the image was built with (16 hex characters for ESP-IDF v5.0/v5.1, 9 from v5.2);
  - with Secure Boot on, the bootloader and the app run only when their signature block names the key
    digest burned as SECURE_BOOT_DIGEST0.

Faults, read from --faults on every request (so a test can change them while the device runs):
  silent               answer nothing (no device in the fixture)
  elf_sha256           print this ELF SHA-256 instead of the image's (another build runs)
  efuse_burn_ignored   report burns as done but keep the eFuses as they were (a part that does not program)
  flash_corrupt        flip a byte at this flash address on every read
  boot_delay_ms        time from reset to the first ROM line (default 150)

  device.py --port PTY --state STATE.json [--faults FAULTS.json]
"""

import argparse
import hashlib
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftlink  # noqa: E402
import serial  # noqa: E402

SECTOR = 4096
S3_KEY_PURPOSES = ["USER", "RESERVED", "XTS_AES_256_KEY_1", "XTS_AES_256_KEY_2", "XTS_AES_128_KEY", "HMAC_DOWN_ALL", "HMAC_DOWN_JTAG", "HMAC_DOWN_DIGITAL_SIGNATURE", "HMAC_UP", "SECURE_BOOT_DIGEST0", "SECURE_BOOT_DIGEST1", "SECURE_BOOT_DIGEST2"]


class Device:
    def __init__(self, port, state_file, faults_file):
        self.state_file = state_file
        self.faults_file = faults_file
        self.lock = threading.Lock()
        self.state = json.load(open(state_file))
        self.loaded = os.stat(state_file).st_mtime_ns
        self.ser = serial.Serial(port, 115200, timeout=0.05)
        self.boot_token = 0

    # ---- persistence -------------------------------------------------------------------------------
    def faults(self):
        if not self.faults_file or not os.path.exists(self.faults_file):
            return {}
        try:
            return json.load(open(self.faults_file))
        except ValueError:
            return {}

    def save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.state_file)
        self.loaded = os.stat(self.state_file).st_mtime_ns

    def maybe_reload(self):
        """A new board in the fixture: the test replaced the state file."""
        try:
            mtime = os.stat(self.state_file).st_mtime_ns
        except OSError:
            return
        if mtime != self.loaded:
            self.state = json.load(open(self.state_file))
            self.loaded = mtime

    # ---- flash ---------------------------------------------------------------------------------------
    def flash_read(self, offset, size, raw=False):
        out = bytearray()
        sectors = self.state.setdefault("flash", {})
        at = offset
        while at < offset + size:
            index = at // SECTOR
            data = ftlink.unb64(sectors[str(index)]) if str(index) in sectors else b"\xff" * SECTOR
            start = at - index * SECTOR
            take = min(SECTOR - start, offset + size - at)
            out += data[start:start + take]
            at += take
        corrupt = self.faults().get("flash_corrupt")
        if not raw and isinstance(corrupt, int) and offset <= corrupt < offset + size:
            out[corrupt - offset] ^= 0x5A
        return bytes(out)

    def flash_write(self, offset, data):
        sectors = self.state.setdefault("flash", {})
        at = offset
        while at < offset + len(data):
            index = at // SECTOR
            current = bytearray(ftlink.unb64(sectors[str(index)]) if str(index) in sectors else b"\xff" * SECTOR)
            start = at - index * SECTOR
            take = min(SECTOR - start, offset + len(data) - at)
            current[start:start + take] = data[at - offset:at - offset + take]
            sectors[str(index)] = ftlink.b64(bytes(current))
            at += take

    # ---- eFuses (Espressif) ----------------------------------------------------------------------------
    def efuse(self, name, default=0):
        return self.state.setdefault("efuse", {}).get(name, default)

    def sdm(self):
        return self.state["chip"] == "esp32s3" and self.efuse("ENABLE_SECURITY_DOWNLOAD") == 1

    def fe_enabled(self):
        cnt = self.efuse("SPI_BOOT_CRYPT_CNT" if self.state["chip"] == "esp32s3" else "FLASH_CRYPT_CNT")
        return bin(cnt).count("1") % 2 == 1

    def fe_key(self):
        key = self.state.get("keys", {}).get("BLOCK_KEY0")
        return bytes.fromhex(key["hex"]) if key else None

    def sb_enabled(self):
        return self.state["chip"] == "esp32s3" and self.efuse("SECURE_BOOT_EN") == 1

    def sb_digests(self):
        out = []
        for i in range(6):
            key = self.state.get("keys", {}).get(f"BLOCK_KEY{i}")
            if key and key["purpose"].startswith("SECURE_BOOT_DIGEST"):
                out.append(bytes.fromhex(key["hex"]))
        return out

    def security_info(self):
        e = self.efuse
        bits = [e("SECURE_BOOT_EN"), e("SECURE_BOOT_AGGRESSIVE_REVOKE"), e("ENABLE_SECURITY_DOWNLOAD"), e("SECURE_BOOT_KEY_REVOKE0"), e("SECURE_BOOT_KEY_REVOKE1"), e("SECURE_BOOT_KEY_REVOKE2"), 1 if bin(e("SOFT_DIS_JTAG")).count("1") % 2 else 0, e("DIS_PAD_JTAG"), e("DIS_USB_OTG"), e("DIS_DOWNLOAD_DCACHE"), e("DIS_DOWNLOAD_ICACHE")]
        flags = sum((1 << i) for i, b in enumerate(bits) if b)
        purposes = [e(f"KEY_PURPOSE_{i}") for i in range(6)] + [0]
        return {"flags": flags, "crypt_cnt": e("SPI_BOOT_CRYPT_CNT"), "key_purposes": purposes, "chip_id": 9, "api_version": 0}

    def burn(self, fields, keys, write_protect):
        """Burns eFuses (bits only ever go from 0 to 1) and key blocks, unless the fault says the part does not program."""
        if self.faults().get("efuse_burn_ignored"):
            return {"ok": True}
        efuse = self.state.setdefault("efuse", {})
        for name, value in fields.items():
            efuse[name] = efuse.get(name, 0) | int(value)
        store = self.state.setdefault("keys", {})
        for k in keys:
            if k["block"] in store:
                return {"ok": False, "error": f"Key block {k['block']} is already in use"}
            store[k["block"]] = {"hex": k["hex"], "purpose": k["purpose"], "read_protected": bool(k.get("read_protect"))}
            purpose_field = "KEY_PURPOSE_" + k["block"][-1]
            if self.state["chip"] == "esp32s3":
                efuse[purpose_field] = S3_KEY_PURPOSES.index(k["purpose"])
        wp = self.state.setdefault("write_protected", [])
        for name in write_protect:
            if name not in wp:
                wp.append(name)
        self.save()
        return {"ok": True}

    # ---- requests ------------------------------------------------------------------------------------
    def handle(self, req):
        op = req["op"]
        chip = self.state["chip"]
        if op == "hello":
            return {"chip": chip, "mac": self.state.get("mac"), "sdm": self.sdm(), "revision": self.state.get("revision", "v0.2")}
        if op == "efuse_read":
            if self.sdm():
                return {"sdm": True}
            return {"efuse": self.state.get("efuse", {}), "keys": {b: {"hex": k["hex"], "purpose": k["purpose"], "read_protected": k["read_protected"]} for b, k in self.state.get("keys", {}).items()}, "write_protected": self.state.get("write_protected", []), "mac": self.state.get("mac"), "unique_id": self.state.get("unique_id")}
        if op == "efuse_burn":
            return self.burn(req.get("fields", {}), req.get("keys", []), req.get("write_protect", []))
        if op == "security_info":
            return self.security_info()
        if op == "flash_write":
            self.flash_write(req["offset"], ftlink.unb64(req["data"]))
            if req.get("last"):
                self.save()
            return {"ok": True}
        if op == "flash_read":
            return {"data": ftlink.b64(self.flash_read(req["offset"], req["size"]))}
        if op == "flash_md5":
            return {"md5": hashlib.md5(self.flash_read(req["offset"], req["size"])).hexdigest()}
        if op == "reset":
            self.boot_token += 1
            token = self.boot_token
            threading.Thread(target=self.boot, args=(token,), daemon=True).start()
            return {"ok": True}
        if op == "nxp_property":
            return self.nxp_property(req["tag"])
        if op == "nxp_keystore":
            return self.nxp_keystore(req["command"], req.get("key"))
        if op == "nxp_receive_sb":
            return self.nxp_receive_sb(ftlink.unb64(req["data"]))
        if op == "nxp_read":
            return {"status": 0, "data": ftlink.b64(self.flash_read(req["address"], req["size"]))}
        if op == "nxp_write":
            data = ftlink.unb64(req["data"])
            if req["address"] == ftlink.CMPA_ADDRESS:
                if self.state.get("cmpa_sealed"):
                    return {"status": 10001}
                self.flash_write(req["address"], data)
                if ftlink.cmpa_secure(data):
                    self.state["cmpa_sealed"] = True
                self.save()
                return {"status": 0, "written": len(data)}
            if self.state.get("cmpa_sealed"):
                return {"status": 10001}
            self.flash_write(req["address"], data)
            self.save()
            return {"status": 0, "written": len(data)}
        return {"error": f"unknown op {op}"}

    # ---- LPC55S69 --------------------------------------------------------------------------------------
    def nxp_property(self, tag):
        if tag == 1:
            return {"status": 0, "words": [0x4B030000], "text": "Current Version = K3.0.0"}
        if tag == 17:
            secure = self.state.get("cmpa_sealed", False)
            return {"status": 0, "words": [0xC33CC33C if secure else 0x5AA55AA5], "text": "Security State = " + ("SECURE" if secure else "UNSECURE")}
        if tag == 18:
            uid = bytes.fromhex(self.state["uid"])
            words = list(struct.unpack("<4I", uid))
            return {"status": 0, "words": words, "text": "Unique Device Identification = " + uid.hex()}
        if tag == 24:
            return {"status": 0, "words": [0x54010104], "text": "Target Version = T1.1.4"}
        return {"status": 10300, "words": []}

    def nxp_keystore(self, command, key):
        ks = self.state.setdefault("keystore", {})
        if self.state.get("cmpa_sealed"):
            return {"status": 10001}
        if command == "enroll":
            ks["enrolled"] = True
        elif command == "set_user_key":
            if not ks.get("enrolled"):
                return {"status": 10001}
            if not self.faults().get("efuse_burn_ignored"):
                ks["sbkek"] = key
        elif command == "write_key_nonvolatile":
            ks["nonvolatile"] = bool(ks.get("sbkek"))
        self.save()
        return {"status": 0}

    def nxp_receive_sb(self, data):
        sbkek = self.state.get("keystore", {}).get("sbkek")
        if not sbkek:
            return {"status": 10118}
        opened = ftlink.open_sb(bytes.fromhex(sbkek), data)
        if isinstance(opened, int):
            return {"status": opened}
        load, payload = opened
        if self.state.get("cmpa_sealed"):
            return {"status": 10001}
        self.flash_write(load, payload)
        self.save()
        return {"status": 0}

    # ---- boot log (Espressif) -------------------------------------------------------------------------
    def image_at(self, offset, size):
        data = self.flash_read(offset, size, raw=True)
        if self.fe_enabled() and self.fe_key():
            data = ftlink.keystream_xor(self.fe_key(), offset, data)
        return data

    def boot(self, token):
        time.sleep(self.faults().get("boot_delay_ms", 150) / 1000.0)
        lines = self.esp32s3_boot() if self.state["chip"] == "esp32s3" else self.esp32_boot()
        for line in lines:
            if token != self.boot_token:
                return
            with self.lock:
                try:
                    self.ser.write(line.encode() + b"\r\n")
                except serial.SerialException:
                    return
            time.sleep(0.002)
            # A device busy in its startup (heap init, NVS) pauses between lines; the capture must wait for the rest.
            if "ELF file SHA256:" in line:
                time.sleep(self.faults().get("pause_after_elf_ms", 0) / 1000.0)

    def esp32s3_boot(self):
        out = ["ESP-ROM:esp32s3-20210327", "Build:Mar 27 2021", "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)", "SPIWP:0xee", "mode:DIO, clock div:1"]
        bootloader = self.image_at(0x0, 0x8000)
        if bootloader[0] != ftlink.ESP_IMAGE_MAGIC:
            return out + ["invalid header: 0x%08x" % struct.unpack("<I", bootloader[:4])[0]]
        digests = self.sb_digests()
        if self.sb_enabled():
            out.append("Valid secure boot key blocks: " + " ".join(str(i) for i in range(len(digests))))
            if self.signature_of(bootloader) not in digests:
                return out + ["No signature block magic byte found at signature sector (found 0xff not 0xe7). Image not V2 signed?", "secure boot verification failed", "ets_main.c 329 "]
            out.append("secure boot verification succeeded")
        out += ["load:0x3fce2980,len:0x3074", "load:0x403c8700,len:0x4", "load:0x403c8704,len:0xe6c", "load:0x403cb700,len:0x59f8", "entry 0x403c8934"]
        app_image = self.image_at(0x10000, 0x100000)
        app = ftlink.parse_app(app_image)
        idf = app["idf"] if app else "v5.4.1"
        out += [f"I (43) boot: ESP-IDF {idf} 2nd stage bootloader", "I (43) boot: compile time Jun 12 2025 10:15:42", "I (43) boot: Multicore bootloader", "I (44) boot: chip revision: v0.2", "I (47) boot: efuse block revision: v1.3",
                "I (51) boot.esp32s3: Boot SPI Speed : 80MHz", "I (55) boot.esp32s3: SPI Mode       : DIO", "I (58) boot.esp32s3: SPI Flash Size : 8MB", "I (62) boot: Enabling RNG early entropy source...", "I (67) boot: Partition Table:",
                "I (69) boot: ## Label            Usage          Type ST Offset   Length"]
        usage = {(1, 2): "WiFi data", (1, 1): "RF data", (0, 0): "factory app"}
        for i, (ptype, subtype, offset, size, label) in enumerate(ftlink.parse_partition_table(self.image_at(0x8000, 0xC00))):
            out.append("I (%d) boot: %2d %-16s %-16s %02x %02x %08x %08x" % (76 + 6 * i, i, label, usage.get((ptype, subtype), "Unknown data"), ptype, subtype, offset, size))
        out.append("I (95) boot: End of partition table")
        if not app:
            return out + ["E (98) esp_image: image at 0x10000 has invalid magic byte (nothing flashed)", "E (104) boot: Factory app partition is not bootable", "E (109) boot: No bootable app partitions in the partition table"]
        t = 98
        for n, (at, load, length) in enumerate(app["segments"]):
            kind = "map" if load >= 0x42000000 or 0x3C000000 <= load < 0x3E000000 else "load"
            out.append("I (%d) esp_image: segment %d: paddr=%08x vaddr=%08x size=%05xh (%6u) %s" % (t, n, 0x10000 + at, load, length, length, kind))
            t += 11
        if self.sb_enabled():
            out += [f"I ({t}) esp_image: Verifying image signature...", f"I ({t}) secure_boot_v2: Verifying with RSA-PSS..."]
            if self.signature_of(app_image) not in digests:
                return out + [f"E ({t + 3}) secure_boot_v2: Secure Boot V2 verification failed.", f"E ({t + 4}) esp_image: Secure boot signature verification failed", f"E ({t + 9}) boot: Factory app partition is not bootable"]
            out.append(f"I ({t + 3}) secure_boot_v2: Signature verified successfully!")
        out.append(f"I ({t + 8}) boot: Loaded app from partition at offset 0x10000")
        if self.sb_enabled():
            out += [f"I ({t + 8}) secure_boot_v2: enabling secure boot v2...", f"I ({t + 12}) secure_boot_v2: secure boot v2 is already enabled, continuing.."]
        if self.fe_enabled():
            cnt = self.efuse("SPI_BOOT_CRYPT_CNT")
            left = 0 if cnt == 7 else (7 - cnt) // 2
            out += [f"I ({t + 18}) boot: Checking flash encryption...", f"I ({t + 22}) flash_encrypt: flash encryption is enabled ({left} plaintext flashes left)"]
        out.append(f"I ({t + 29}) boot: Disabling RNG early entropy source...")
        elf = self.faults().get("elf_sha256") or app["elf_sha256"]
        chars = 16 if idf.startswith("v5.0") or idf.startswith("v5.1") else 9
        out += ["I (224) cpu_start: Multicore app", "I (234) cpu_start: Pro cpu start user code", "I (234) cpu_start: cpu freq: 160000000 Hz", "I (234) app_init: Application information:",
                f"I (237) app_init: Project name:     {app['project']}", f"I (242) app_init: App version:      {app['version']}", f"I (247) app_init: Compile time:     {app['date']} {app['time']}",
                f"I (252) app_init: ELF file SHA256:  {elf[:chars]}...", f"I (257) app_init: ESP-IDF:          {idf}", "I (261) efuse_init: Min chip rev:     v0.0", "I (265) efuse_init: Max chip rev:     v0.99 ", "I (269) efuse_init: Chip rev:         v0.2",
                "I (273) heap_init: Initializing. RAM available for dynamic allocation:", "I (280) heap_init: At 3FC95A28 len 00053CE8 (335 KiB): RAM", "I (285) heap_init: At 3FCE9710 len 00005724 (21 KiB): RAM", "I (290) heap_init: At 3FCF0000 len 00008000 (32 KiB): DRAM",
                "I (295) heap_init: At 600FE100 len 00001EE8 (7 KiB): RTCRAM", "I (301) spi_flash: detected chip: generic", "I (304) spi_flash: flash io: dio"]
        if self.fe_enabled():
            out.append("I (308) flash_encrypt: Flash encryption mode is RELEASE" if self.efuse("SPI_BOOT_CRYPT_CNT") == 7 else "W (308) flash_encrypt: Flash encryption mode is DEVELOPMENT (not secure)")
        out += ["I (313) sleep_gpio: Configure to isolate all GPIO pins in sleep state", "I (319) sleep_gpio: Enable automatic switching of GPIO sleep configuration", "I (326) main_task: Started on CPU0", "I (336) main_task: Calling app_main()", f"I (340) {app['project']}: ready"]
        return out

    def signature_of(self, image):
        """The key digest in the signature block after the image (at the next 4 KiB boundary), or None."""
        segments = ftlink.image_segments(image)
        if not segments:
            return None
        at, load, length = segments[-1]
        end = at + length
        end += 15 - (end % 16) + 1
        return ftlink.signature_digest(image[:end + ((-end) % 4096) + 1216])

    def esp32_boot(self):
        out = ["ets Jul 29 2019 12:21:46", "", "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)", "configsip: 0, SPIWP:0xee", "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00", "mode:DIO, clock div:2",
               "load:0x3fff0030,len:7104", "load:0x40078000,len:15576", "load:0x40080400,len:4", "ho 8 tail 4 room 4", "load:0x40080404,len:3876", "entry 0x4008064c"]
        bootloader = self.image_at(0x1000, 0x7000)
        if bootloader[0] != ftlink.ESP_IMAGE_MAGIC:
            return out[:6] + ["flash read err, 1000", "ets_main.c 371 "]
        app = ftlink.parse_app(self.image_at(0x10000, 0x100000))
        idf = app["idf"] if app else "v5.1.4"
        out += [f"I (31) boot: ESP-IDF {idf} 2nd stage bootloader", "I (31) boot: compile time Nov 15 2023 11:10:49", "I (31) boot: Multicore bootloader", "I (35) boot: chip revision: v3.1", "I (39) boot.esp32: SPI Speed      : 40MHz",
                "I (44) boot.esp32: SPI Mode       : DIO", "I (48) boot.esp32: SPI Flash Size : 4MB", "I (53) boot: Enabling RNG early entropy source...", "I (58) boot: Partition Table:", "I (62) boot: ## Label            Usage          Type ST Offset   Length"]
        usage = {(1, 2): "WiFi data", (1, 1): "RF data", (0, 0): "factory app"}
        for i, (ptype, subtype, offset, size, label) in enumerate(ftlink.parse_partition_table(self.image_at(0x8000, 0xC00))):
            out.append("I (%d) boot: %2d %-16s %-16s %02x %02x %08x %08x" % (69 + 7 * i, i, label, usage.get((ptype, subtype), "Unknown data"), ptype, subtype, offset, size))
        out.append("I (91) boot: End of partition table")
        if not app:
            return out + ["E (96) esp_image: image at 0x10000 has invalid magic byte (nothing flashed)", "E (103) boot: No bootable app partitions in the partition table"]
        for n, (at, load, length) in enumerate(app["segments"]):
            out.append("I (%d) esp_image: segment %d: paddr=%08x vaddr=%08x size=%05xh (%6u) %s" % (96 + 9 * n, n, 0x10000 + at, load, length, length, "map" if load >= 0x3F400000 and load < 0x3F800000 else "load"))
        elf = self.faults().get("elf_sha256") or app["elf_sha256"]
        chars = 16 if idf.startswith("v5.0") or idf.startswith("v5.1") else 9
        out += ["I (190) boot: Loaded app from partition at offset 0x10000", "I (190) boot: Disabling RNG early entropy source...", "I (206) cpu_start: Multicore app", "I (206) cpu_start: Pro cpu up.", "I (206) cpu_start: Starting app cpu, entry point is 0x40081258",
                "I (0) cpu_start: App cpu up.", "I (224) cpu_start: Pro cpu start user code", "I (224) cpu_start: cpu freq: 160000000 Hz", "I (224) cpu_start: Application information:",
                f"I (229) cpu_start: Project name:     {app['project']}", f"I (234) cpu_start: App version:      {app['version']}", f"I (239) cpu_start: Compile time:     {app['date']} {app['time']}",
                f"I (245) cpu_start: ELF file SHA256:  {elf[:chars]}...", f"I (251) cpu_start: ESP-IDF:          {idf}", "I (257) cpu_start: Min chip rev:     v0.0", "I (262) cpu_start: Max chip rev:     v3.99 ", "I (267) cpu_start: Chip rev:         v3.1",
                "I (272) heap_init: Initializing. RAM available for dynamic allocation:", "I (279) heap_init: At 3FFAE6E0 len 00001920 (6 KiB): DRAM", "I (285) spi_flash: detected chip: generic", "I (289) spi_flash: flash io: dio",
                "I (294) app_start: Starting scheduler on CPU0", "I (299) app_start: Starting scheduler on CPU1", "I (299) main_task: Started on CPU0", "I (309) main_task: Calling app_main()", f"I (313) {app['project']}: ready"]
        return out

    def serve(self):
        buf = b""
        while True:
            try:
                chunk = self.ser.read(65536)
            except serial.SerialException:
                time.sleep(0.05)
                continue
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                i = line.find(ftlink.MARK)
                if i < 0:
                    continue
                try:
                    req = json.loads(line[i + len(ftlink.MARK):].decode())
                except ValueError:
                    continue
                if self.faults().get("silent"):
                    continue
                self.maybe_reload()
                answer = self.handle(req)
                with self.lock:
                    self.ser.write(ftlink.MARK + json.dumps(answer).encode() + b"\n")
                    self.ser.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--faults")
    a = p.parse_args()
    Device(a.port, a.state, a.faults).serve()


if __name__ == "__main__":
    main()
