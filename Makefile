# SPDX-License-Identifier: Apache-2.0
#
# make run    a local carbon-cache + graphite-web on 127.0.0.1, the agent sending to it
#             (CLUSTER=1: three nodes into a relay tier and two carbon-caches)
# make test   vet + every test (installs what the tests need: Go modules, graphite, ...)
#             including the dashboards check (dashboards/ is one of ./...)
# make dashboards-check  the Grafana dashboards against a real graphite-web fed by the agent
# make screenshots       PNGs of the main dashboard panels into docs/img (for the README)
# make bench  collector and whole-cycle benchmarks (services: 100 memcached in namespaces)
# make bench-daemon  the whole agent process against a floor daemon that only
#             reads the same files (CPU per cycle, PSS; host, 1000 containers,
#             1000 plain cgroups); as root, a few minutes
# make soak   24 simulated hours with container churn: RSS, goroutines, fds flat
# make fuzz   every fuzz target for FUZZTIME each (make test runs them briefly)
# make image  the reproducible image (image/build/)

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# nethttpomithttp2: net/http without its bundled HTTP/2 client. Nothing here
# speaks HTTP/2 (Docker and nginx are plain HTTP/1.1 over our own dialers; an
# https events URL gets HTTP/1.1), and every linked page is resident in the
# running agent (README, Efficiency). In GOFLAGS, so that the tests, and the
# agents they build with `go build`, are the build that ships.
TAGS      := nethttpomithttp2
FUZZTIME  ?= 5000x
# staticcheck runs from the Go module proxy at a pinned version, so it needs
# no entry in go.mod and every machine checks with the same rules.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
RUNDIR    ?= $(CURDIR)/.state/run
INTERVAL  ?= 5s
export GOFLAGS := -buildvcs=false -tags=$(TAGS)

.PHONY: all build deps test vet lint unit fuzz bench bench-daemon soak run image clean dashboards-check screenshots

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/collector ./cmd/collector

# deps installs everything the tests and `make run` use on a fresh Debian
# machine: Go modules, a real Carbon + graphite-web, iproute2.
deps:
	scripts/deps.sh
	$(GO) mod download

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }

lint:
	$(GO) run $(STATICCHECK) ./...

# unit runs every test under the race detector: the agent is a set of
# goroutines (scheduler, collectors, senders, Docker cache, event queue).
unit:
	$(GO) test -race -count=1 -timeout 14m ./...

# unit runs go test ./..., which includes ./dashboards: make test runs the
# dashboards check once, in parallel with the other packages.
test: deps vet lint unit
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

# dashboards-check: a real carbon-cache + graphite-web, real containers
# (cgroups and processes made by the test), the agent at a 1 s interval;
# then every panel target, variable and annotation of dashboards/*.json
# sent as Grafana's Graphite data source sends them (dashboards/live_test.go).
dashboards-check: deps
	$(GO) test -count=1 -timeout 5m ./dashboards

# screenshots: a 60 s run, then the main panels drawn by graphite-web's
# /render?format=png into docs/img (overview.png is the README's picture).
screenshots: deps
	scripts/screenshots.sh docs/img

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -skip Soak24h -benchmem -count=1 ./collectors ./containers ./agent ./carbon ./services

# bench-daemon: BENCH_DAEMON='-loads host -runs 1' picks loads and runs
# (go run ./bench/daemon -h lists its flags).
BENCH_DAEMON ?=
bench-daemon: build
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/floor ./bench/floor
	$(GO) run ./bench/daemon -agent bin/collector -floor bin/floor $(BENCH_DAEMON)

# image: the nspawn tarball, OCI layout and docker archive in image/build/
image:
	image/build.sh image/build

# soak: 24 simulated hours at a 1 s interval with container churn (~7 min)
soak:
	$(GO) test -run '^$$' -bench Soak24h -benchtime 1x -timeout 60m ./agent

# run: needs root and Go; installs Graphite and systemd-nspawn (Docker is
# optional: without it containers are named by their short id).
# make run CLUSTER=1: the agent on three nodes (network namespaces) into a
# Graphite cluster (scripts/cluster.sh: two carbon-c-relays, two
# carbon-caches, one graphite-web frontend on 127.0.0.1:8080).
ifeq ($(CLUSTER),1)
run: build
	scripts/deps.sh run
	scripts/cluster.sh run $(RUNDIR)/cluster bin/collector $(INTERVAL)
else
run: build image
	scripts/deps.sh run
	scripts/run.sh $(RUNDIR) $(INTERVAL)
endif

clean:
	rm -rf bin .state
