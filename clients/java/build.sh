#!/bin/sh
# Compiles the library, the example and the tests with the JDK alone (17 or newer; no Maven, no
# dependencies) into build/classes, and packs the library into build/flashtrail-client.jar.
set -eu
cd "$(dirname "$0")"
rm -rf build/classes
javac --release 17 -Xlint:all -Werror -encoding UTF-8 -d build/classes $(find src examples test -name '*.java')
jar --create --file build/flashtrail-client.jar -C build/classes dev
echo "built build/classes and build/flashtrail-client.jar"
