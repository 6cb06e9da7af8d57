#!/usr/bin/env bash
# Tests the package as a user gets it: prebuild the addon, npm pack, install the tarball into a
# fresh project with install scripts skipped (npm 11 skips dependencies' scripts unless approved),
# then import the library and run the CLI from that project.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

npm run prebuild --silent
prebuilt=$(ls prebuilds/linux-x64/*.node)
# prebuildify leaves no build/Release behind; put the same (stripped) addon back for the tests.
mkdir -p build/Release && cp "$prebuilt" build/Release/dynamo_memory.node

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "== packed $tarball ($(du -h "$work/$tarball" | cut -f1))"

cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "./$tarball" >/dev/null
test ! -e node_modules/@dynamo/memory/build || { echo "unexpected build/ in the package"; exit 1; }

node --input-type=module -e "
  import { allocate } from '@dynamo/memory';
  const buffer = allocate(1 << 20, { alignment: 65536 });
  if (buffer.address % 65536n !== 0n || !buffer.zeroCopy) throw new Error('bad allocation');
  console.log('import ok: HostBuffer of', buffer.size, 'bytes at 0x' + buffer.address.toString(16));
  buffer.free();
"
# The published declarations type-check for a strict consumer without skipLibCheck.
cat > consumer.ts <<'TS'
import { allocate, openFile, cudaStatus, reportExitCode, type HostBuffer } from '@dynamo/memory';
const buffer: HostBuffer = allocate(4096);
buffer.free();
void openFile;
void cudaStatus;
void reportExitCode;
TS
cat > tsconfig.json <<JSON
{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022",
  "strict": true, "noEmit": true, "skipLibCheck": false, "lib": ["ES2022", "ESNext.Disposable"],
  "types": ["node"], "typeRoots": ["$root/node_modules/@types"] }, "files": ["consumer.ts"] }
JSON
"$root/node_modules/.bin/tsc" -p .
echo "types ok: the declarations type-check with skipLibCheck off"

npx --no-install dynamo-memory load "$(command -v node)" --verify sha256 --json > load.json
expected=$(sha256sum "$(command -v node)" | cut -d' ' -f1)
node -e "
  const r = require('./load.json');
  if (!r.ok || r.sha256 !== '$expected') { console.error(r); process.exit(1); }
  console.log('cli ok: load --verify sha256 matches sha256sum,', r.direct ? 'O_DIRECT' : 'buffered');
"
npx --no-install dynamo-memory info > /dev/null
echo "== package smoke test passed"
