#!/usr/bin/env bash
# Sourced: `bah ARGS...` runs buildah on the project's own storage, naming the
# storage driver on every call (vfs: works on any filesystem, needs no overlay
# support, at the cost of a full copy per layer) and chroot isolation for RUN.
# Own root and runroot, so nothing is shared with another container tool here.
IMAGE_SMOKE_CACHE="${IMAGE_LOCALITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-locality}/buildah"
IMAGE_SMOKE_STORAGE_DRIVER="${IMAGE_SMOKE_STORAGE_DRIVER:-vfs}"
export BUILDAH_ISOLATION=chroot
bah() {
  buildah --root "$IMAGE_SMOKE_CACHE/storage" --runroot "$IMAGE_SMOKE_CACHE/run" \
    --storage-driver "$IMAGE_SMOKE_STORAGE_DRIVER" "$@"
}
