#!/usr/bin/env bash
# Install everything Cochlea needs on Debian/Ubuntu: system packages, then npm dependencies.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

# libpocketsphinx3 + pocketsphinx-en-us: the offline English recognizer.
# ffmpeg, sox: container decoding (and test fixtures). python3-onnx/numpy: ONNX test fixtures.
# chromium: the live-page browser test. espeak-ng: pronunciations of keyword-boosted names (and test speech).
# redis-server: the scale-out tests (test/jobs/redis.test.ts start their own redis-server on a free
# port in a temp dir and stop it; the system service is not used).
APT_PACKAGES=(libpocketsphinx3 pocketsphinx-en-us ffmpeg sox libsox-fmt-all python3-onnx python3-numpy bzip2 chromium espeak-ng redis-server)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: ready"
