# murderkit — see README.md. Long runs take their size from the variables
# below, e.g. `make fuzz FUZZTIME_LONG=30m`, `make trials TRIALS=1000`.

GO            ?= go
BIN           ?= bin
TEST_TIMEOUT  ?= 25m
FUZZTIME      ?= 10s
FUZZTIME_LONG ?= 5m
SOAK_COUNT    ?= 100000
HOSTILE_CONNS ?= 10000
STALLED_MB    ?= 150
TRIALS        ?= 1000
BENCH_N       ?= 1000000
POWERLOSS_TRIALS ?= 5
SEEDS         ?= 1,2,3
STEPS         ?= 200
VERSIONS      ?= 3.6,3.2,3.10,3.12
ACL_ROUNDS    ?= 2000

# Debian packages the tests run for real (never mocked): Cyrus 3.6 for the
# compatibility tests, etcd for the external-cluster registry tests,
# chromium for the shadow HTML report test, debootstrap for the chroots of
# the other Cyrus releases (make chroots).
DEB_PACKAGES  = cyrus-imapd cyrus-murder cyrus-replication cyrus-admin cyrus-clients sasl2-bin etcd-server chromium nginx libnginx-mod-mail debootstrap strace time db5.3-util

# Chroots of the other Cyrus releases the tests run (3.2 bullseye, 3.10
# trixie, 3.12 sid), built once per machine by `make chroots`, kept outside
# the work tree (scripts/build-chroots.sh).
MURDERKIT_CHROOTS ?= /var/cache/murderkit/chroots
export MURDERKIT_CHROOTS

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps chroots demo demo-check test vet fmt-check go-test fuzz-brief fuzz soak hostile trials powerloss powerloss-brief bench bench-scale fixtures twins acl-stress release-checks clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## deps: install the Debian packages the tests and the demo need (once)
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi; \
	command -v $(GO) >/dev/null || { echo "deps: Go 1.26 is required (https://go.dev/dl/)" >&2; exit 1; }; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || { echo "deps: $$p is still missing" >&2; exit 1; }; \
	done

## chroots: Debian chroots with Cyrus 3.2, 3.10 and 3.12 for the
## version tests (built when absent; minutes the first time, then nothing)
chroots: deps
	scripts/build-chroots.sh

## demo: the main job: a bridge on the embedded default (leveldb) with the
## shipped sample mailboxes.db imported, in the foreground until Ctrl-C
demo: deps
	$(GO) build -o $(BIN)/ ./cmd/mboxconv ./cmd/murder-bridge
	BIN=$(BIN) scripts/demo.sh

## demo-check: the same, non-interactive: start it, query it the ways it prints, stop it
demo-check: deps
	$(GO) build -o $(BIN)/ ./cmd/mboxconv ./cmd/murder-bridge
	BIN=$(BIN) DEMO_PORT=$(or $(DEMO_PORT),3925) DEMO_HTTP=$(or $(DEMO_HTTP),8425) scripts/demo.sh --check

## test: everything CI runs (< 30 min on 2 cores); ends with go test's summary
test: deps chroots fmt-check vet demo-check fuzz-brief powerloss-brief go-test

fmt-check:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi

vet:
	$(GO) vet ./...

fuzz-brief:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz-all.sh $(FUZZTIME)

go-test:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

## long runs, sized by variables
fuzz: deps
	GO=$(GO) scripts/fuzz-all.sh $(FUZZTIME_LONG)

soak: deps
	MURDERKIT_SOAK_COUNT=$(SOAK_COUNT) $(GO) test -timeout 4h -run 'Soak' -v ./...

# the MUPDATE server under hostile clients at full size (docs/reliability.md):
# HOSTILE_CONNS strangers (the process needs about twice as many descriptors)
hostile: deps
	MURDERKIT_HOSTILE_CONNS=$(HOSTILE_CONNS) MURDERKIT_STALLED_MB=$(STALLED_MB) $(GO) test -timeout 1h -run 'Strangers|Stalled' -v ./mupdate/mupdateserver

trials: deps
	MURDERKIT_TRIALS=$(TRIALS) $(GO) test -timeout 4h -run 'Trials' -v ./...
	MURDERKIT_KILL_TRIALS=50 MURDERKIT_TRIAL_ENTRIES=200000 $(GO) test -timeout 4h -run 'KillTrials' -v ./cmd/mboxconv
	MURDERKIT_CRASH_TRIALS=50 $(GO) test -timeout 1h -run 'Crash' -v ./registry/leveldb

## powerloss: power cuts under leveldb registry writes (root: loop devices,
## mount); see docs/reliability.md
## powerloss-brief: one power cut, in every `make test` (CI runs as root)
powerloss-brief:
	$(MAKE) powerloss POWERLOSS_TRIALS=1

powerloss:
	MURDERKIT_POWERLOSS=1 MURDERKIT_POWERLOSS_TRIALS=$(POWERLOSS_TRIALS) $(GO) test -count=1 -timeout 1h -run 'TestPowerLoss' -v ./registry/leveldb

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
	$(GO) build -o $(BIN)/ ./cmd/mboxconv
	N=$(BENCH_N) bench/dump.sh

## bench-scale: growth of mboxconv import/export costs from 1M to BENCH_SCALE_NS's last N (bench/importscale.sh)
bench-scale: deps
	NS="$(or $(BENCH_SCALE_NS),1000000 10000000)" bench/importscale.sh

## bench-mupdate: MUPDATE side by side with the real Cyrus master (bench/mupdate.sh)
bench-mupdate: deps
	N=$(BENCH_N) bench/mupdate.sh

## twins: the twin murders (docs/twins.md) with long seeds: every seed in
## SEEDS for STEPS steps on every Cyrus release in VERSIONS
twins: deps chroots
	MURDERKIT_TWIN_SEEDS='$(SEEDS)' MURDERKIT_TWIN_STEPS='$(STEPS)' MURDERKIT_TWIN_VERSIONS='$(VERSIONS)' $(GO) test -count=1 -timeout 24h -run 'TestTwinMurders' -v ./interop

## release-checks: the per-release interop checks `make test` runs on the
## host's Cyrus 3.6.1 only (IPv6 loopback, XFER between backends mirrored and
## cut over) on every Cyrus release in VERSIONS (docs/cyrus-versions.md)
release-checks: deps chroots
	MURDERKIT_RELEASE_CHECKS='$(VERSIONS)' $(GO) test -count=1 -timeout 2h -run 'TestIPv6Loopback|TestXferBetweenBackends' -v ./interop

## acl-stress: the negative-ACL stress tests (docs/twins.md, the open -anyone
## difference) with ACL_ROUNDS rounds (the interop ones, real Cyrus and the
## follower on a real master, run ACL_ROUNDS/20)
acl-stress: deps
	MURDERKIT_ACLRACE_ROUNDS=$(ACL_ROUNDS) $(GO) test -count=1 -timeout 2h -run 'TestNegativeACLNoLostUpdate' -v ./bridge
	MURDERKIT_ACLRACE_ROUNDS=$$(( $(ACL_ROUNDS) / 20 )) $(GO) test -count=1 -timeout 2h -run 'NegativeACLUnderLoad' -v ./interop

rehearsal: deps ; GO=$(GO) scripts/rehearsal.sh $(or $(REHEARSAL_USERS),200)

## fixtures: regenerate testdata/ with the real Cyrus tools
fixtures: deps chroots
	testdata/make-fixtures.sh
	testdata/make-version-fixtures.sh

clean:
	rm -rf $(BIN)
