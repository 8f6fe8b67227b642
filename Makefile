# Two entry points (see README):
#   make demo  - build the CLI and run a listen/send round trip
#   make test  - install what the tests need, then vet and run every test
GO      ?= go
BIN     ?= bin/mailslot
FUZZTIME ?= 60s

.PHONY: all build demo test deps check-format vet fuzz bench

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mailslot

demo: build
	@MAILSLOT_NAMESPACE=demo-$$$$ sh scripts/demo.sh $(BIN)

# Tools the tests use for real: tshark/text2pcap (the independent judge of
# our packets) and setpriv (writers running as another user). Installed with
# apt-get when missing; without them the tests fail, they do not skip.
TEST_TOOLS := tshark text2pcap setpriv
deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test tools (missing:$$missing)"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root, or install: tshark util-linux" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq tshark util-linux >/dev/null; \
	fi

check-format:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...

# go test runs every fuzz target's seed corpus (testdata/fuzz and f.Add).
# The allocation and heap checks run without -race (the detector allocates
# and adds shadow memory).
test: deps check-format vet
	$(GO) test -count=1 -run 'Allocat|HeapGrowth' .
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
