#!/bin/sh
# A stand-in flash tool (esptool, espefuse, …): succeeds, fails or hangs as the test asks.
#   tool.sh STEP SERIAL
# FAKE_FAIL_<STEP>=SERIAL makes it fail for that unit; FAKE_HANG_<STEP>=SERIAL makes it hang.
step="$1"; serial="$2"
eval fail=\${FAKE_FAIL_$step:-}
eval hang=\${FAKE_HANG_$step:-}
if [ "$serial" = "$hang" ]; then echo "Connecting....." ; sleep 600; fi
if [ "$serial" = "$fail" ]; then echo "A fatal error occurred: Failed to connect to ESP32-S3: No serial data received." >&2; exit 2; fi
echo "$step done for $serial"
exit 0
