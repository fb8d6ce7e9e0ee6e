#!/usr/bin/env bash
# Release artifacts in target/dist/: the tarball (or a .zip for Windows), the .deb (Linux, with
# cargo-deb) and SHA256SUMS over all of them.
#
#   scripts/package.sh [--target TRIPLE] [--no-deb]
#     --target TRIPLE   default: the host; the toolchain for TRIPLE must be present
#     --no-deb          the tarball and SHA256SUMS only (no cargo-deb needed)
#
# Every tool is checked before the build (cargo-deb at the pinned version for a Linux .deb):
# a missing one stops it in seconds, naming the command that installs it.
# The build is `cargo build --release --locked`. Archives are reproducible: files sorted, owned by
# root, dated SOURCE_DATE_EPOCH (default: the last commit's time), gzip without a timestamp.
set -euo pipefail
cd "$(dirname "$0")/.."

# The cargo-deb that builds the .deb (also installed by scripts/test and the release workflow).
deb_version=3.8.0

target=""
make_deb=1
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="${2:?--target needs a triple}"; shift 2 ;;
    --target=*) target="${1#--target=}"; shift ;;
    --no-deb) make_deb=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

host=$(rustc -vV | sed -n 's/^host: //p')
triple=${target:-$host}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

case "$triple" in *linux*) ;; *) make_deb=0 ;; esac

# Preflight: every tool this run needs, before a minute of release build.
need() { # COMMAND HOW-TO-INSTALL
  command -v "$1" >/dev/null 2>&1 || { echo "package.sh: $1 is missing: $2" >&2; exit 1; }
}
case "$triple" in
  *windows*) command -v zip >/dev/null 2>&1 || need 7z "install zip (or 7-Zip)" ;;
  *) need tar "install tar"; need gzip "install gzip" ;;
esac
command -v sha256sum >/dev/null 2>&1 || need shasum "install coreutils (sha256sum) or perl (shasum)"
if [ "$make_deb" = 1 ]; then
  found=$(cargo deb --version 2>/dev/null || true)
  if [ "$found" != "cargo-deb $deb_version" ]; then
    echo "package.sh: the .deb needs cargo-deb $deb_version (found: ${found:-none}): cargo install --locked cargo-deb@$deb_version, or --no-deb for the tarball and SHA256SUMS only" >&2
    exit 1
  fi
fi

target_args=()
[ -n "$target" ] && target_args=(--target "$target")
echo "package: cargo build --release for $triple" >&2
cargo build --release --locked --quiet "${target_args[@]}"

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
release_dir="$target_dir/${target:+$target/}release"
exe=hsm
case "$triple" in *windows*) exe=hsm.exe ;; esac

dist="$target_dir/dist"
rm -rf "$dist"
mkdir -p "$dist"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

name="hsm-$version-$triple"
root="$stage/$name"
mkdir -p "$root/bin" "$root/share/man/man1" "$root/share/completions"
cp "$release_dir/$exe" "$root/bin/"
cp man/*.1 "$root/share/man/man1/"
cp completions/hsm.bash completions/_hsm completions/hsm.fish completions/_hsm.ps1 completions/hsm.elv \
  "$root/share/completions/"
cp README.md LICENSE CHANGELOG.md "$root/"
chmod 0755 "$root/bin/$exe"
find "$root" -type f ! -path "$root/bin/*" -exec chmod 0644 {} +

# GNU tar makes the archive reproducible; macOS has it as gtar (Homebrew), else plain bsdtar.
gnu_tar=""
for t in tar gtar; do
  if "$t" --version 2>/dev/null | grep -q GNU; then gnu_tar=$t; break; fi
done
case "$triple" in
  *windows*)
    if command -v zip >/dev/null 2>&1; then
      (cd "$stage" && find "$name" | LC_ALL=C sort | zip -X -q "$dist/$name.zip" -@)
    else
      (cd "$stage" && 7z a -tzip -bd "$dist/$name.zip" "$name" >/dev/null)
    fi ;;
  *)
    if [ -n "$gnu_tar" ]; then
      "$gnu_tar" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
        -C "$stage" -cf - "$name" | gzip -9n >"$dist/$name.tar.gz"
    else
      tar -C "$stage" -cf - "$name" | gzip -9n >"$dist/$name.tar.gz"
    fi ;;
esac

if [ "$make_deb" = 1 ]; then
  cargo deb --no-build --locked --quiet "${target_args[@]}" --output "$dist/" >/dev/null
else
  case "$triple" in *linux*) echo "package: no .deb (--no-deb): the archive and SHA256SUMS only" >&2 ;; esac
fi

if command -v sha256sum >/dev/null 2>&1; then sum=(sha256sum); else sum=(shasum -a 256); fi
(cd "$dist" && "${sum[@]}" -- hsm* >SHA256SUMS)
echo "package: wrote $dist" >&2
(cd "$dist" && ls -1)
