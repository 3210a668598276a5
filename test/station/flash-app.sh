#!/bin/sh
# Flashes the application of a scripted device: the device then boots and prints an ESP-IDF boot log on its
# console, including the SHA-256 of the image it runs. FAKE_DEVICE_CORRUPT=SERIAL makes that unit's flash
# corrupt: it reports another hash.
#   flash-app.sh IMAGE CONSOLE SERIAL
image="$1"; console="$2"; serial="$3"
sha=$(sha256sum "$image" | cut -d' ' -f1)
if [ "$serial" = "${FAKE_DEVICE_CORRUPT:-}" ]; then sha=$(printf 'corrupt %s' "$serial" | sha256sum | cut -d' ' -f1); fi
{
  printf 'ESP-ROM:esp32s3-20210327\r\n'
  printf 'rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n'
  printf 'I (31) boot: ESP-IDF v5.2.1 2nd stage bootloader\r\n'
  printf 'I (52) boot: Secure boot V2 enabled\r\n'
  printf 'I (301) app_init: Application information:\r\n'
  printf 'I (305) app_init: Project name:     sensor-s3\r\n'
  printf 'I (312) app_init: ELF file SHA256:  %s\r\n' "$sha"
  printf 'I (318) app_init: ESP-IDF:          v5.2.1\r\n'
} > "$console"
echo "Wrote $(wc -c < "$image") bytes at 0x10000; hash of data verified."
