"""
Stand-in for Espressif's NVS partition generator (PyPI esp-idf-nvs-partition-gen, `python -m
esp_idf_nvs_partition_gen generate INPUT.csv OUTPUT.bin SIZE`): writes a SIZE-byte image whose content is
determined by the CSV (not the real NVS page format), and prints the generator's closing line.
"""
import hashlib
import sys


def main():
    if len(sys.argv) < 5 or sys.argv[1] != "generate":
        sys.stderr.write("usage: esp_idf_nvs_partition_gen generate INPUT OUTPUT SIZE\n")
        sys.exit(2)
    _, _, source, target, size = sys.argv[:5]
    size = int(size, 0)
    csv = open(source, "rb").read()
    body = b"NVS0" + hashlib.sha256(csv).digest() + csv
    with open(target, "wb") as f:
        f.write(body[:size] + b"\xff" * max(0, size - len(body)))
    print(f"\nCreated NVS binary: ===> {target}")


main()
