# Thin wrappers over meson, keeping the seed's commands. `make run` and `make test` install what they need.
BUILD ?= build
CONFIG ?= examples/demo.yml
PACKAGES := build-essential meson ninja-build pkg-config cmake python3 \
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev \
  libyaml-cpp-dev libfmt-dev doctest-dev libedit-dev libexpat1-dev libssl-dev scdoc

ifeq ($(shell id -u),0)
  SUDO :=
else
  SUDO := $(shell command -v sudo 2>/dev/null)
endif

SANITIZE_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_PACKAGES := clang libclang-rt-14-dev
BENCH ?= quick
# What the tests compare with: supervisord's own parser (Debian's `supervisor`, its service kept from starting) and
# python3-yaml, both for Debian's /usr/bin/python3 (tests/e2e/test_supervisord_conf.py); man-db (with groff)
# renders the man pages as a reader sees them (tests/e2e/test_man.py); Prometheus with its promtool (Debian's
# `prometheus`, its service kept from starting: tests/e2e/test_metrics.py runs its own).
TEST_PACKAGES := supervisor python3-yaml man-db prometheus openssl
# make deb: the Debian packages, built by dpkg-buildpackage from a copy of the tree in $(DEB_BUILD)/ (debian/).
DEB_BUILD ?= build-deb
DEB_JOBS ?= auto
# Build-Depends that PACKAGES has not (tests/deb/check.sh compares them), and the tools.
DEB_PACKAGES := debhelper dpkg-dev lintian

.PHONY: all deps deps-fuzz deps-test deps-deb build run test test-sanitize fuzz bench install deb deb-check clean help

all: build

help:
	@echo "make deps     install the Debian 12 packages taskmaster needs"
	@echo "make build    configure and compile into $(BUILD)/"
	@echo "make run      build and run taskmaster on $(CONFIG) (CONFIG=file to change)"
	@echo "make test     build and run the whole test suite (installs supervisord, its service kept stopped)"
	@echo "make test-sanitize  the test suite again under AddressSanitizer and UBSan, in $(SANITIZE_BUILD)/"
	@echo "make fuzz     run each fuzz target for FUZZ_SECONDS (clang and libFuzzer, in $(FUZZ_BUILD)/)"
	@echo "make bench    taskmaster and supervisord side by side (BENCH=full for the long run)"
	@echo "make install  install the library, headers, pkg-config file and CLI"
	@echo "make deb      the Debian packages (taskmaster, libtaskmaster0, libtaskmaster-dev) in $(DEB_BUILD)/"
	@echo "make deb-check  make deb, then lintian, their contents, and dpkg -i / taskmaster --version / dpkg -P"
	@echo "make clean    remove $(BUILD)/"

# Installs the Debian packages in $(1) that are missing: as root, else with sudo, else says what to run.
define install_packages
	@if dpkg-query -W -f='$${Status}\n' $(1) 2>/dev/null | grep -qv 'install ok installed' \
	    || ! dpkg-query -W $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; then \
	    $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(1); \
	  else \
	    echo "Not root and no sudo: run as root:"; echo "  apt-get install -y --no-install-recommends $(1)"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_packages,$(PACKAGES))

deps-fuzz: deps
	$(call install_packages,$(FUZZ_PACKAGES))

deps-deb: deps
	$(call install_packages,$(DEB_PACKAGES))

# As install_packages, with /usr/sbin/policy-rc.d saying no for the time of the install: the Debian way to keep a
# package (supervisor, prometheus) from starting its service; and not at boot either. The tests and the bench start
# their own supervisord and prometheus when they need one.
deps-test: deps
	@missing=$$(for p in $(TEST_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ] && [ -z "$(SUDO)" ]; then \
	    echo "Not root and no sudo: run as root:"; echo "  apt-get install -y --no-install-recommends $$missing"; exit 1; \
	  fi; \
	  guard=; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    guard=1; printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod 755 /usr/sbin/policy-rc.d; \
	  fi; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	  status=$$?; \
	  if [ -n "$$guard" ]; then $(SUDO) rm -f /usr/sbin/policy-rc.d; fi; \
	  if [ -d /run/systemd/system ]; then $(SUDO) systemctl disable --now supervisor.service prometheus.service 2>/dev/null; fi; \
	  exit $$status; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	./$(BUILD)/apps/taskmaster -c $(CONFIG)

test: build deps-test
	meson test -C $(BUILD) --print-errorlogs

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer; any report fails it. Sanitizer
# allocators keep freed memory in quarantine, hence the chaos test's larger memory allowance.
test-sanitize: deps-test
	test -f $(SANITIZE_BUILD)/build.ninja || meson setup $(SANITIZE_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	meson compile -C $(SANITIZE_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  CHAOS_RSS_SLACK_KIB=262144 meson test -C $(SANITIZE_BUILD) --print-errorlogs --timeout-multiplier 3

fuzz: deps-fuzz
	test -f $(FUZZ_BUILD)/build.ninja || CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzz=true \
	  -Db_sanitize=address,undefined -Db_lundef=false
	meson compile -C $(FUZZ_BUILD)
	FUZZ_SECONDS=$(FUZZ_SECONDS) meson test -C $(FUZZ_BUILD) --suite fuzz --print-errorlogs

# Needs root the first time, to install supervisord (deps-test).
bench: deps-test
	python3 tests/bench/bench.py --mode $(BENCH)

install: build
	$(SUDO) meson install -C $(BUILD)

# Source and binary packages, built by dpkg-buildpackage in a copy of the tree (what git tracks and the new files
# it does not ignore; outside git, all but the build directories): its build directory and the files it writes
# next to the tree all land in $(DEB_BUILD)/, and the tree stays as it was. See docs/packaging.md.
deb: deps-deb
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/taskmaster
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - ; \
	else \
	  tar --exclude=./.git --exclude='./build*' --exclude='./subprojects/*/' --exclude='./$(DEB_BUILD)' -cf - . ; \
	fi | tar -C $(DEB_BUILD)/taskmaster -xf -
	cd $(DEB_BUILD)/taskmaster && dpkg-buildpackage -us -uc -j$(DEB_JOBS)
	@echo "Debian packages:"; ls -1 $(DEB_BUILD)/*.deb

# Builds the packages and checks them, installing them on this machine and removing them again.
deb-check: deps-deb
	DEB_BUILD=$(DEB_BUILD) DEB_JOBS=$(DEB_JOBS) tests/deb/check.sh

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
