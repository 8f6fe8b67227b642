# Two entry points (see README):
#   make demo  - build the CLI and run a listen/send round trip
#   make test  - install what the tests need, then vet and run every test
GO      ?= go
BIN     ?= bin/mailslot
FUZZTIME ?= 60s

.PHONY: all build demo test deps check-format vet lint fuzz bench bench-net

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mailslot

demo: build
	@MAILSLOT_NAMESPACE=demo-$$$$ sh scripts/demo.sh $(BIN)

# Tools the tests use for real: tshark/text2pcap/dumpcap (the independent
# judge of our packets), setpriv (writers running as another user), ip
# (network namespaces for the agent tests), Samba's nmbd and nmblookup and
# nbtscan (real NetBIOS peers). Installed with apt-get when missing; without
# them the tests fail, they do not skip.
TEST_TOOLS := tshark text2pcap dumpcap setpriv ip nmbd nmblookup smbcontrol nbtscan dbus-run-session dbus-daemon
TEST_PKGS  := tshark util-linux iproute2 samba samba-common-bin smbclient nbtscan dbus-daemon dbus-session-bus-common
deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test tools (missing:$$missing)"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or install: $(TEST_PKGS)" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $(TEST_PKGS) >/dev/null; \
		for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || { echo "$$t still missing after apt-get" >&2; exit 1; }; done; \
	fi

check-format:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...

# staticcheck, pinned, for the platforms with a backend (the others are the
# ErrNotSupported stub).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	GOBIN=$(CURDIR)/bin $(GO) install $(STATICCHECK)
	bin/staticcheck ./...
	GOOS=windows bin/staticcheck ./...

# go test runs every fuzz target's seed corpus (testdata/fuzz and f.Add).
# The allocation and heap checks (root package, agent/transport) run without -race (the detector allocates
# and adds shadow memory).
test: deps check-format vet lint
	$(GO) test -count=1 -run 'Allocat|HeapGrowth' .
	$(GO) test -count=1 -run 'TestUDPBatchRecv|TestUDPWriteBatch' ./agent/transport
	$(GO) test -race -count=1 -timeout 10m ./...

# Run each fuzz target for FUZZTIME; new failing inputs land in testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench: build
	$(BIN) bench

# Windows backend: the root package's tests cross-compiled for windows/amd64
# and run under Wine 8 through scripts/wine/go-exec (which builds the
# bcryptprimitives.dll Go needs and prepares the prefix once). Wine and
# mingw-w64 are required: without them the run fails, it does not skip.
WINE_EXEC := $(CURDIR)/scripts/wine/go-exec
WINE_PKGS := wine wine64 gcc-mingw-w64-x86-64-win32
.PHONY: deps-wine test-windows
deps: deps-wine
test: test-windows
deps-wine:
	@if [ ! -x /usr/lib/wine/wine64 ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then \
		echo "installing Wine and mingw-w64"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or install: $(WINE_PKGS)" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get -o DPkg::Lock::Timeout=900 update -qq && \
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $(WINE_PKGS) >/dev/null; \
	fi
	@$(WINE_EXEC) --setup

# Examples not run for Windows. Example and ExampleSlot_Read_bufferTooSmall
# print a message count and a short read's error, exactly where Wine 8's
# mailslots deviate (counts capped at 1, short reads truncate); an Example
# cannot assert another output, so they run on Linux (and would on Windows)
# but not under Wine; TestConformance asserts both behaviours there
# (§4.31-38, §4.39-40). ExampleWithOwner shows Unix uids, which Windows does
# not have (WithOwner and Owner: ErrNotSupported, TestWindowsOwnerNotSupported).
WINE_SKIP := ^(Example|ExampleSlot_Read_bufferTooSmall|ExampleWithOwner)$$
test-windows: deps-wine
	GOOS=windows $(GO) test -count=1 -timeout 5m -exec $(WINE_EXEC) -skip '$(WINE_SKIP)' . ./internal/winapi

# Network benchmarks between network namespaces (root): remote writes vs
# raw UDP over the same veth pair. See docs/performance.md.
bench-net: build
	$(GO) run ./internal/cmd/netbench -mailslot $(BIN)
