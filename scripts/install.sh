#!/bin/sh
# Installs hsm from a release: verifies the archive against SHA256SUMS before anything else,
# installs nothing on a mismatch, then puts the binary, man pages and completions under PREFIX.
#
#   install.sh [--prefix DIR] [--from DIR|URL] [--target TRIPLE]
#
#   --prefix  where to install (default ~/.local): PREFIX/bin/hsm, PREFIX/share/man/man1,
#             PREFIX/share/{bash-completion,zsh,fish}/...
#   --from    a directory holding the release (SHA256SUMS and the archives), or its URL
#             (default: the directory this script is in, when it holds SHA256SUMS)
#   --target  the archive to take (default: this machine's, e.g. x86_64-unknown-linux-gnu)
#
# POSIX sh; works offline from a local directory.
set -eu

say() { printf '%s\n' "install.sh: $*" >&2; }
die() { say "$*"; exit 1; }

prefix="${HOME:-}/.local"
from=""
triple=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --from) [ $# -ge 2 ] || die "--from needs a directory or URL"; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    --target) [ $# -ge 2 ] || die "--target needs a triple"; triple=$2; shift 2 ;;
    --target=*) triple=${1#--target=}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument $1 (see --help)"; exit 2 ;;
  esac
done
[ -n "$prefix" ] || die "no prefix: set HOME or pass --prefix DIR"

if [ -z "$from" ]; then
  here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
  [ -f "$here/SHA256SUMS" ] || die "no release here: pass --from DIR (holding SHA256SUMS and the archives) or --from URL"
  from=$here
fi

if [ -z "$triple" ]; then
  case "$(uname -s)" in
    Linux) os=unknown-linux-gnu ;;
    Darwin) os=apple-darwin ;;
    *) die "no archive for $(uname -s): pass --target TRIPLE" ;;
  esac
  case "$(uname -m)" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) die "no archive for $(uname -m): pass --target TRIPLE" ;;
  esac
  triple="$arch-$os"
fi

work=$(mktemp -d 2>/dev/null || mktemp -d -t hsm-install)
trap 'rm -rf "$work"' EXIT INT TERM

# Fetch (or copy) a file of the release into the work dir.
fetch() {
  case "$from" in
    http://*|https://*)
      if command -v curl >/dev/null 2>&1; then
        curl --proto '=https,http' -fsSL -o "$work/$1" "${from%/}/$1" || die "cannot download ${from%/}/$1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$work/$1" "${from%/}/$1" || die "cannot download ${from%/}/$1"
      else
        die "need curl or wget to download from $from"
      fi ;;
    *)
      [ -f "$from/$1" ] || die "$from/$1 is missing"
      cp "$from/$1" "$work/$1" ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  fi
}

case "$from" in
  http://*) say "warning: --from $from is plain http: SHA256SUMS comes over the same unprotected channel as the archive, so anyone on the way can change both; use https" ;;
esac

# Every directory written to must be writable before anything is copied: a prefix whose
# share/ is read-only must not end up with a new bin/hsm and old man pages.
writable() { # DIR: it, or the nearest directory above it that exists, can be written to
  d=$1
  while [ ! -d "$d" ]; do
    [ ! -e "$d" ] || return 1
    d=$(dirname "$d")
  done
  [ -w "$d" ]
}
for d in bin share/man/man1 share/bash-completion/completions share/zsh/site-functions \
         share/fish/vendor_completions.d share/hsm/completions; do
  writable "$prefix/$d" || die "cannot write to $prefix/$d: nothing installed"
done

fetch SHA256SUMS
# The newest archive for this target listed in SHA256SUMS ("HASH  hsm-VERSION-TRIPLE.tar.gz"),
# in version order (0.10.0 after 0.9.0; a release after its pre-releases).
archive=$(sed -n "s/^[0-9a-f]\{64\} [ *]\(hsm-[0-9A-Za-z.+-]*-$triple\.tar\.gz\)\$/\1/p" "$work/SHA256SUMS" |
  awk -v suffix="-$triple.tar.gz" '{
    v = substr($0, 5, length($0) - 4 - length(suffix)); core = v; pre = ""
    i = index(v, "-"); if (i > 0) { core = substr(v, 1, i - 1); pre = substr(v, i + 1) }
    sub(/[+].*/, "", core); split(core, n, ".")
    printf "%d %d %d %d %s\n", n[1], n[2], n[3], (pre == "" ? 1 : 0), $0
  }' | sort -k1,1n -k2,2n -k3,3n -k4,4n -k5,5 | tail -n1 | cut -d' ' -f5)
[ -n "$archive" ] || die "SHA256SUMS lists no archive for $triple"
expected=$(grep " [ *]$archive\$" "$work/SHA256SUMS" | head -n1 | cut -d' ' -f1)

fetch "$archive"
actual=$(sha256 "$work/$archive")
if [ "$actual" != "$expected" ]; then
  die "checksum mismatch for $archive (expected $expected, got $actual): nothing installed"
fi

mkdir "$work/x"
(cd "$work/x" && gzip -dc "../$archive" | tar -xf -) || die "cannot unpack $archive: nothing installed"
dir="$work/x/${archive%.tar.gz}"
[ -x "$dir/bin/hsm" ] || die "$archive holds no bin/hsm: nothing installed"

# Copy to a temporary name beside the destination, then rename: a running hsm is never
# left half-written.
put() { # SRC DEST MODE
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.tmp.$$"
  chmod "$3" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

put "$dir/bin/hsm" "$prefix/bin/hsm" 755
for page in "$dir"/share/man/man1/*.1; do
  put "$page" "$prefix/share/man/man1/$(basename "$page")" 644
done
c="$dir/share/completions"
put "$c/hsm.bash" "$prefix/share/bash-completion/completions/hsm" 644
put "$c/_hsm" "$prefix/share/zsh/site-functions/_hsm" 644
put "$c/hsm.fish" "$prefix/share/fish/vendor_completions.d/hsm.fish" 644
put "$c/_hsm.ps1" "$prefix/share/hsm/completions/_hsm.ps1" 644
put "$c/hsm.elv" "$prefix/share/hsm/completions/hsm.elv" 644

say "installed $("$prefix/bin/hsm" --version) to $prefix/bin/hsm"
case ":${PATH:-}:" in
  *":$prefix/bin:"*) ;;
  *) say "$prefix/bin is not on your PATH; add it, e.g. in ~/.profile:"
     say "  export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
