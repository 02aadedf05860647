#!/usr/bin/env bash
# Build the local test image from Debian's busybox-static: no registry is reachable here, so
# tests and the demo use an image imported from a root folder (`docker import`).
set -euo pipefail
image="${TENANTCHAIN_TEST_IMAGE:-tenantchain/busybox:local}"

if docker image inspect "$image" >/dev/null 2>&1; then exit 0; fi

busybox_bin=/bin/busybox
is_static() { [ -x "$1" ] && ldd "$1" 2>&1 | grep -q 'not a dynamic'; }
if ! is_static "$busybox_bin"; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-image: a static busybox is needed; install Debian's busybox-static" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # the image's / : mktemp makes it 0700, which non-root users could not traverse
mkdir -p "$work"/{bin,etc,tmp,data,www}
cp "$busybox_bin" "$work/bin/busybox"
for applet in $("$work/bin/busybox" --list); do
  [ -e "$work/bin/$applet" ] || ln -s busybox "$work/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/etc/group"
echo '<h1>tenantchain</h1>' >"$work/www/index.html"
chmod 1777 "$work/tmp"
tar -C "$work" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$image" >/dev/null
echo "ensure-image: built $image" >&2
