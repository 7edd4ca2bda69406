# Thin wrappers over meson, keeping the seed's commands. `make run` and `make test` install what they need.
BUILD ?= build
CONFIG ?= examples/demo.yml
PACKAGES := build-essential meson ninja-build pkg-config cmake python3 \
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev \
  libyaml-cpp-dev libfmt-dev doctest-dev libedit-dev

ifeq ($(shell id -u),0)
  SUDO :=
else
  SUDO := $(shell command -v sudo 2>/dev/null)
endif

.PHONY: all deps build run test install clean help

all: build

help:
	@echo "make deps     install the Debian 12 packages taskmaster needs"
	@echo "make build    configure and compile into $(BUILD)/"
	@echo "make run      build and run taskmaster on $(CONFIG) (CONFIG=file to change)"
	@echo "make test     build and run the whole test suite"
	@echo "make install  install the library, headers, pkg-config file and CLI"
	@echo "make clean    remove $(BUILD)/"

deps:
	@if dpkg-query -W -f='$${Status}\n' $(PACKAGES) 2>/dev/null | grep -qv 'install ok installed' \
	    || ! dpkg-query -W $(PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; then \
	    $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $(PACKAGES); \
	  else \
	    echo "Not root and no sudo: run as root:"; echo "  apt-get install -y --no-install-recommends $(PACKAGES)"; exit 1; \
	  fi; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	./$(BUILD)/apps/taskmaster -c $(CONFIG)

test: build
	meson test -C $(BUILD) --print-errorlogs

install: build
	$(SUDO) meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)
