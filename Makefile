# deploybot — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := $(CURDIR)/bin
PKG     := github.com/deploybot/deploybot
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)

# Pinned tools, installed into ./bin by the project itself.
TEMPORAL_CLI_VERSION := v1.5.1

.PHONY: run test build vet fmt-check tools clean

## run: build deploybot and start the local playground (Temporal dev server, Argo CD simulator, worker, gateway)
run: build bin/temporal
	$(BIN)/deploybot dev

## test: gofmt + go vet + the whole test suite with the race detector
test: bin/temporal bin/deploybot fmt-check vet
	TEMPORAL_CLI=$(BIN)/temporal $(GO) test -race -count=1 -timeout 25m ./...

## build: the deploybot binary in ./bin
build: bin/deploybot

bin/deploybot: FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/deploybot ./cmd/deploybot

bin/temporal:
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

tools: bin/temporal

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean:
	rm -rf $(BIN) .deploybot

FORCE:
