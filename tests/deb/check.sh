#!/usr/bin/env bash
# make deb-check: builds the Debian packages (make deb) and checks them as a user of Debian would meet them:
#   - the build leaves the source tree as it was, and debian/ agrees with meson.build and the Makefile;
#   - lintian finds no error (its warnings are printed);
#   - each package holds what it must (dpkg -c), the library's SONAME matches its package's name;
#   - installed with dpkg -i, /usr/bin/taskmaster --version answers with the package's version, and a program
#     builds against libtaskmaster-dev with pkg-config and runs;
#   - dpkg --purge then leaves the machine as it was (the packages must not be installed before).
# Run as root (dpkg -i). DEB_BUILD is where make deb writes the packages; DEB_JOBS its parallel jobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${DEB_BUILD:-build-deb}
packages=(taskmaster libtaskmaster0 libtaskmaster-dev)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
work=$(mktemp -d)
installed_here=

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }
step() { echo "== deb-check: $* (${SECONDS}s)"; }
installed() { dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed; }
cleanup() {
  if [ -n "$installed_here" ]; then
    echo "== deb-check: dpkg --purge ${packages[*]}"
    dpkg --purge "${packages[@]}" >/dev/null || echo "deb-check: dpkg --purge failed: remove ${packages[*]} by hand" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "dpkg -i needs root: run make deb-check as root"
for package in "${packages[@]}"; do
  if installed "$package"; then
    fail "$package is already installed; this check installs and removes its own build: dpkg --purge ${packages[*]} first"
  fi
done

# debian/changelog's version is the project's (a native package has no Debian revision).
version=$(dpkg-parsechangelog -S Version)
project_version=$(meson introspect --projectinfo meson.build | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
[ "$version" = "$project_version" ] \
  || fail "debian/changelog says $version, meson.build $project_version: add a changelog entry (dch -v $project_version)"

# Build-Depends and the Makefile's package lists name the same packages, so that make deb installs every build
# dependency and a new library in PACKAGES is not forgotten in debian/control. Not Build-Depends: what builds
# only the tests (cmake finds doctest), and build-essential (always implied).
build_depends=$(sed -n '/^Build-Depends:/,/^[^ ]/p' debian/control | sed '$d' | sed 's/^Build-Depends://' \
  | tr ',' '\n' | sed 's/^[[:space:]]*//; s/[[:space:](].*//; /^$/d' | grep -v '^debhelper-compat$' | sort -u)
# shellcheck disable=SC2016  # make expands them
makefile_packages=$(printf 'print-packages:\n\t@echo $(PACKAGES) $(DEB_PACKAGES)\n' \
  | make -s --no-print-directory -f Makefile -f - print-packages | tr ' ' '\n' | sed '/^$/d' | sort -u)
not_in_makefile=$(comm -23 <(echo "$build_depends") <(echo "$makefile_packages"))
[ -z "$not_in_makefile" ] || fail "in Build-Depends but not in the Makefile's PACKAGES or DEB_PACKAGES: $(paste -sd" " <<<"$not_in_makefile")"
not_in_control=$(comm -13 <(echo "$build_depends") <(echo "$makefile_packages") \
  | grep -vx -e build-essential -e cmake -e doctest-dev -e python3 -e debhelper -e dpkg-dev -e lintian || true)
[ -z "$not_in_control" ] || fail "in the Makefile's PACKAGES but not in debian/control's Build-Depends: $(paste -sd" " <<<"$not_in_control")"

step "make deb"
tree_state() { if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git status --porcelain --ignored | grep -v " $build/\$" || true; fi; }
before=$(tree_state)
make -s --no-print-directory deb DEB_BUILD="$build" DEB_JOBS="${DEB_JOBS:-auto}" >"$work/build.log" 2>&1 \
  || { tail -50 "$work/build.log"; fail "make deb failed (the end of its output is above)"; }
after=$(tree_state)
if grep -q 'warning:' "$work/build.log"; then   # the package's own flags (-O2, _FORTIFY_SOURCE) can find more
  echo "the compiler's warnings in the package build:"; grep -A3 'warning:' "$work/build.log"
fi
[ "$before" = "$after" ] || fail "make deb changed the source tree:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"

changes="$build/taskmaster_${version}_${arch}.changes"
[ -f "$changes" ] || fail "no $changes"
deb() { echo "$build/${1}_${version}_${arch}.deb"; }

step "lintian"
status=0
lintian --fail-on error --display-info "$changes" >"$work/lintian.log" 2>&1 || status=$?
grep -v '^running with root privileges' "$work/lintian.log" || echo "(no tags)"
[ "$status" = 0 ] || fail "lintian reports errors (E: above), or could not run"

step "package contents"
contents() { dpkg-deb -c "$(deb "$1")" | awk '{ print $6 }' | sed 's|^\./|/|'; }
expect() {   # expect PACKAGE PATH...: each PATH is in PACKAGE
  local package=$1 listing; shift
  listing=$(contents "$package")
  for path in "$@"; do
    grep -qxF "$path" <<<"$listing" || fail "$package does not have $path; it has:"$'\n'"$listing"
  done
}
man_pages=()
for source in man/*.scd; do   # man/NAME.SECTION.scd becomes /usr/share/man/manSECTION/NAME.SECTION.gz
  [ -e "$source" ] || continue
  page=$(basename "$source" .scd)
  man_pages+=("/usr/share/man/man${page##*.}/$page.gz")
done
expect taskmaster /usr/bin/taskmaster /usr/share/doc/taskmaster/copyright /usr/share/doc/taskmaster/README.md.gz \
  /lib/systemd/system/taskmaster.service "${man_pages[@]}"
[ "$(contents taskmaster | grep -c '^/usr/bin/.')" = 1 ] || fail "taskmaster installs other programs: $(contents taskmaster | grep '^/usr/bin/.')"
expect libtaskmaster0 "/usr/lib/$multiarch/libtaskmaster.so.$version" "/usr/lib/$multiarch/libtaskmaster.so.0"
headers=(/usr/include/taskmaster/version.hpp)
for header in libtaskmaster/include/taskmaster/*.hpp; do headers+=("/usr/include/taskmaster/$(basename "$header")"); done
expect libtaskmaster-dev "${headers[@]}" "/usr/lib/$multiarch/libtaskmaster.so" \
  "/usr/lib/$multiarch/pkgconfig/taskmaster.pc"
for package in "${packages[@]}"; do
  if contents "$package" | grep -q '^/usr/local/'; then fail "$package installs under /usr/local"; fi
done
dpkg-deb -x "$(deb libtaskmaster0)" "$work/root"
soname=$(readelf -d "$work/root/usr/lib/$multiarch/libtaskmaster.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libtaskmaster.so.0 ] \
  || fail "the library's SONAME is $soname: rename libtaskmaster0 after it (debian/control, debian/*.install)"
echo "taskmaster: /usr/bin/taskmaster ${man_pages[*]:-(no man pages: no man/*.scd)}"
echo "libtaskmaster0: $soname; libtaskmaster-dev: ${#headers[@]} headers, taskmaster.pc, libtaskmaster.so"

step "dpkg -i"
installed_here=1
dpkg -i "$(deb libtaskmaster0)" "$(deb libtaskmaster-dev)" "$(deb taskmaster)" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "dpkg -i failed"; }
answer=$(/usr/bin/taskmaster --version) || fail "/usr/bin/taskmaster --version failed: $answer"
[ "$answer" = "taskmaster $version" ] || fail "/usr/bin/taskmaster --version says '$answer', not 'taskmaster $version'"
echo "/usr/bin/taskmaster --version: $answer"
# The packaged library is the one the program loads (a make install in /usr/local would come first).
loaded=$(ldd /usr/bin/taskmaster | sed -n 's/.*libtaskmaster\.so\.0 => \([^ ]*\).*/\1/p')
[ "$(readlink -f "$loaded")" = "$(readlink -f "/usr/lib/$multiarch/libtaskmaster.so.0")" ] \
  || fail "/usr/bin/taskmaster loads libtaskmaster from '$loaded', not the package's (a make install in /usr/local?)"

# A program of someone else's, built with the pkg-config file alone: the headers, the .so link and the library.
pcdir=$(pkg-config --variable=pcfiledir taskmaster) || fail "pkg-config does not find taskmaster"
[ "$pcdir" = "/usr/lib/$multiarch/pkgconfig" ] || fail "pkg-config finds taskmaster.pc in $pcdir, not the package's"
cat >"$work/consumer.cpp" <<'EOF'
#include <taskmaster/taskmaster.hpp>
#include <iostream>

int main() {
  taskmaster::Supervisor supervisor;  // the library's code: its own io_context, nothing to supervise
  std::cout << taskmaster::kVersion << '\n';
}
EOF
# shellcheck disable=SC2046  # pkg-config prints several words on purpose
c++ -std=c++20 -o "$work/consumer" "$work/consumer.cpp" $(pkg-config --cflags --libs taskmaster) \
  || fail "a program does not build against libtaskmaster-dev with pkg-config --cflags --libs taskmaster"
[ "$("$work/consumer")" = "$version" ] || fail "a program built against libtaskmaster-dev does not run"
echo "built and ran a program with pkg-config --cflags --libs taskmaster"

step "dpkg --purge"
dpkg --purge "${packages[@]}" >/dev/null
installed_here=
for package in "${packages[@]}"; do ! installed "$package" || fail "$package is still installed"; done
[ ! -e /usr/bin/taskmaster ] || fail "/usr/bin/taskmaster is still there"
step "passed; the packages are in $build/"
