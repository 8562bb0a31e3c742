#!/usr/bin/env bash
# Builds the Debian package from an already built binary: writes the man pages and shell
# completions that binary generates from its own command line into target/packaging/, then runs
# `cargo deb --no-build`. Usage: packaging/build-deb.sh [PROFILE [OUTPUT_DIR]]
# (PROFILE release by default; `dev` packages target/debug/xenflux).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
out="${2:-target/debian}"
case "$profile" in
  dev) dir=debug ;;
  *) dir="$profile" ;;
esac
bin="${CARGO_TARGET_DIR:-target}/$dir/xenflux"
[ -x "$bin" ] || { echo "build-deb: $bin not found: run cargo build --profile $profile first" >&2; exit 1; }
gen=target/packaging
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions"
"$bin" manpages "$gen/man" >/dev/null
gzip -9n "$gen"/man/*.1
"$bin" completion bash >"$gen/completions/xenflux.bash"
"$bin" completion zsh >"$gen/completions/_xenflux"
"$bin" completion fish >"$gen/completions/xenflux.fish"
mkdir -p "$out"
cargo deb --no-build --profile "$profile" --output "$out" ${CARGO_DEB_ARGS:-}
