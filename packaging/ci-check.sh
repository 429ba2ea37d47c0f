#!/usr/bin/env bash
# CI's package check (called by .ci/run; as root, in a container without systemd running):
# builds the .deb with packaging/build.sh, installs it with dpkg, checks what it installed
# (the binary's --version names this commit, `serve --check-config` reads the packaged
# /etc/verdict/verdict.toml, the user, the man pages, the completions, the unit), then
# removes it and checks that the store directory is kept.
# It packages the debug build (`--profile dev`, the build `cargo test` uses too, so CI
# compiles nothing twice; cargo-deb warns that it is meant for release builds): a release
# build costs minutes more and the check is about the package, not the binary's speed. The .rpm is not built here: installing
# cargo-generate-rpm from source took 11 minutes on this 2-core machine while other builds
# ran (cargo-deb: 3).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
fail() { echo "package check failed: $*" >&2; exit 1; }

# It installs into and removes from this machine: never over a real installation.
if dpkg-query -W verdict >/dev/null 2>&1 || [ -e /var/lib/verdict ]; then
  fail "verdict is installed here, or /var/lib/verdict exists: run this check on a CI machine"
fi
# Neither existed before: whatever happens, leave the machine as it was (the user stays).
trap 'as_root dpkg -P verdict >/dev/null 2>&1 || true; as_root rm -rf /var/lib/verdict' EXIT

# systemd for `systemd-analyze verify` (it is not running), dpkg-dev for dpkg-shlibdeps.
if ! command -v systemd-analyze >/dev/null 2>&1 || ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd dpkg-dev >/dev/null
fi

bash packaging/build.sh --profile dev --deb-only --fast
target=$(cargo metadata --locked --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
deb="$target/packages/verdict_${version}-1_$(dpkg --print-architecture).deb"

echo "== dpkg -i $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
as_root dpkg -i "$deb"

echo "== checks"
commit=$(git rev-parse --short=12 HEAD)
# /usr/bin/verdict by its path: a `cargo install`ed one may come first in PATH.
out=$(/usr/bin/verdict --version)
echo "$out"
[[ "$out" == "verdict $version ($commit)" ]] || fail "--version says '$out', expected 'verdict $version ($commit)'"
# With no --config, serve reads /etc/verdict/verdict.toml: the packaged file must be valid.
check=$(cd / && /usr/bin/verdict serve --check-config)
echo "$check" | head -3
grep -qx '# config file: /etc/verdict/verdict.toml' <<<"$check" || fail "--check-config did not read /etc/verdict/verdict.toml"
grep -q '^db = "/var/lib/verdict/verdict.db"  # config file' <<<"$check" || fail "the store is not /var/lib/verdict/verdict.db"
grep -q '^listen = "127.0.0.1:5001"  # config file' <<<"$check" || fail "the packaged config does not listen on 127.0.0.1:5001"
getent passwd verdict >/dev/null || fail "no user verdict"
[ "$(stat -c %U:%G:%a /var/lib/verdict)" = verdict:verdict:750 ] || fail "/var/lib/verdict is $(stat -c %U:%G:%a /var/lib/verdict)"
dpkg-query -W -f='${Conffiles}\n' verdict | grep -q '/etc/verdict/verdict.toml' || fail "verdict.toml is not a conffile"
for f in /usr/share/man/man1/verdict.1.gz /usr/share/man/man1/verdict-serve.1.gz \
  /usr/share/bash-completion/completions/verdict /usr/share/zsh/vendor-completions/_verdict \
  /usr/share/fish/vendor_completions.d/verdict.fish /usr/share/doc/verdict/README.md \
  /usr/lib/systemd/system/verdict.service; do
  [ -s "$f" ] || fail "$f is missing"
done
zcat /usr/share/man/man1/verdict-serve.1.gz | grep -q -- 'check\\-config' || fail "verdict-serve.1 does not document --check-config"
echo "== systemd-analyze verify"
systemd-analyze verify /usr/lib/systemd/system/verdict.service
# As the user the unit runs as, on the packaged store path: it can make and read the store.
echo '{"testcase": "package.check", "outcome": "PASSED"}' |
  as_root runuser -u verdict -- /usr/bin/verdict --db /var/lib/verdict/verdict.db submit -
as_root runuser -u verdict -- /usr/bin/verdict --db /var/lib/verdict/verdict.db stats

echo "== dpkg -r verdict"
as_root dpkg -r verdict
[ ! -e /usr/bin/verdict ] || fail "/usr/bin/verdict is still there after dpkg -r"
[ -e /var/lib/verdict/verdict.db ] || fail "dpkg -r removed the store"
as_root dpkg -P verdict
[ -e /var/lib/verdict/verdict.db ] || fail "dpkg -P removed the store"

echo "package check passed"
