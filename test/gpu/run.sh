#!/usr/bin/env bash
# Runs the real-driver CUDA tier and the copy benchmark on a machine with a GPU. Prints the
# benchmark table (GB/s and ratios against the device's own copy rate and the disk) for the
# release notes. Usage: test/gpu/run.sh [scratch directory on the disk to measure]
set -euo pipefail
cd "$(dirname "$0")/../.."

test -f build/Release/dynamo_memory.node || npm run build:native
npm run compile --silent

echo "== CUDA tier against the real driver"
npx vitest run --config test/gpu/vitest.config.ts

echo "== copy benchmark"
npm run bench --silent -- cuda-copy "${1:-$PWD}" --file-size="${DMEM_BENCH_FILE_SIZE:-4G}"
