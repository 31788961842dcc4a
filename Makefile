# ticketd: every entry point; CI (.ci/run) runs check, test, interop and verify-unit.
GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOBIN     := $(shell $(GO) env GOPATH)/bin
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(GOBIN)/staticcheck)

.PHONY: build test demo check fmt bench bench-1m profile interop soak soak-short fuzz clean install verify-unit

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ticketd ./cmd/ticketd

test:
	$(GO) test -race -shuffle=on ./...

demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/ticketd demo

check:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@test -x "$(STATICCHECK)" || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(STATICCHECK) ./...

fmt:
	gofmt -w .

# Interop: the end-to-end tests against a private Dovecot and Postfix on
# loopback, and the consent page in headless Chromium (.ci/install-deps
# installs them from Debian packages); missing ones fail here instead of skipping.
interop:
	TICKETD_INTEROP=1 $(GO) test -race -count=1 ./mail/... ./desk/... ./cmd/ticketd/

# Soak: the fault and load suite (internal/soak): the ticketd binary against
# Dovecot and Postfix on loopback, 20,000 mails while it is killed and the
# servers fail, then the reconciliation table; non-zero on any difference.
# SOAK_SEED repeats a run (the seed is printed at the start). soak-short is
# the form CI runs (2,000 mails, three kills).
SOAK_SEED  ?= 0
SOAK_FLAGS ?= -mails 20000 -kills 10 -rounds 40 -natural-retry -settle 20m
soak:
	TICKETD_SOAK=1 TICKETD_INTEROP=1 $(GO) test -v -count=1 -timeout=90m ./internal/soak -args $(SOAK_FLAGS) -seed $(SOAK_SEED)

soak-short:
	$(MAKE) soak SOAK_FLAGS='-mails 2000 -kills 3 -rounds 20 -settle 90s'

# Benchmarks print figures; see README.md for what they measure. Their
# output goes to $(BENCH_DIR), and internal/benchtable prints every figure
# of the run as one table beside its floor (raw IMAP fetch, bbolt insert).
BENCH_DIR ?= bench.out
bench: SHELL := /bin/bash
bench: .SHELLFLAGS := -o pipefail -c
bench:
	mkdir -p $(BENCH_DIR)
	TICKETD_INTEROP=1 $(GO) test -run='^$$' -bench=. -benchtime=1x -count=1 -timeout=180m ./desk/ 2>&1 | tee $(BENCH_DIR)/desk.txt
	$(GO) test -run='^$$' -bench='^Benchmark(Parse|Deliver)$$' -benchtime=2s -count=1 ./desk/ 2>&1 | tee $(BENCH_DIR)/desk-steady.txt
	$(GO) test -run='^$$' -bench=Purge -benchtime=1x -count=1 -timeout=180m ./retention/ 2>&1 | tee $(BENCH_DIR)/retention.txt
	$(GO) test -run='^$$' -bench=LMTP -benchtime=1x -count=1 ./cmd/ticketd/ 2>&1 | tee $(BENCH_DIR)/cmd.txt
	$(GO) test -run='^$$' -bench='Erase|Rotate' -benchtime=1x -count=1 -timeout=60m ./store/ 2>&1 | tee $(BENCH_DIR)/store.txt
	$(GO) run ./internal/benchtable $(BENCH_DIR)/desk.txt $(BENCH_DIR)/desk-steady.txt $(BENCH_DIR)/retention.txt $(BENCH_DIR)/cmd.txt $(BENCH_DIR)/store.txt

# bench-1m: make bench with the 1,000,000-ticket rows (ingest, start, list,
# export, erase and the purges), on storetest fixtures kept in
# $(BENCH_FIXTURES) across runs: the first run builds the 1M fixture (11 to
# 16 minutes here) and the purge benchmarks' planned copies of it; each
# purge runs on a fresh copy, so the kept ones stay as they were.
BENCH_FIXTURES ?= /var/tmp/ticketd-fixtures
bench-1m:
	mkdir -p $(BENCH_FIXTURES)
	TICKETD_BENCH_1M=1 TICKETD_FIXTURES=$(BENCH_FIXTURES) $(MAKE) bench

# Profile: CPU and allocations of BenchmarkIngest10k (encrypted store)
# against Dovecot, written to $(PROFILE_DIR), with the top entries of each.
PROFILE_DIR ?= profile
profile:
	mkdir -p $(PROFILE_DIR)
	TICKETD_INTEROP=1 $(GO) test -run='^$$' -bench='^BenchmarkIngest10k$$/^encrypted$$' -benchtime=1x -count=1 \
		-cpuprofile=$(PROFILE_DIR)/cpu.pprof -memprofile=$(PROFILE_DIR)/mem.pprof -o $(PROFILE_DIR)/desk.test ./desk/
	$(GO) tool pprof -top -nodecount=40 $(PROFILE_DIR)/desk.test $(PROFILE_DIR)/cpu.pprof
	$(GO) tool pprof -top -nodecount=40 -sample_index=alloc_space $(PROFILE_DIR)/desk.test $(PROFILE_DIR)/mem.pprof

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=60s ./mail/mime/
	$(GO) test -run='^$$' -fuzz=FuzzStrip -fuzztime=30s ./mail/reply/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./config/
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=30s ./consent/
	$(GO) test -run='^$$' -fuzz='^FuzzConsentPath$$' -fuzztime=30s ./consent/
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=30s ./agent/
	$(GO) test -run='^$$' -fuzz='^FuzzSenderAuthentication$$' -fuzztime=30s ./mail/mime/
	$(GO) test -run='^$$' -fuzz='^FuzzDue$$' -fuzztime=30s ./sla/

# Install: the binary, the systemd unit and its sysusers.d file, and the
# directories of the configuration and the credentials (README.md,
# "Install"). DESTDIR stages it (a package build); the paths below are the
# ones contrib/systemd/ticketd.service names (a test checks that they agree).
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     := $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
SYSUSERSDIR ?= /etc/sysusers.d
install: build
	install -D -m 0755 bin/ticketd $(DESTDIR)$(BINDIR)/ticketd
	install -D -m 0644 contrib/systemd/ticketd.service $(DESTDIR)$(UNITDIR)/ticketd.service
	install -D -m 0644 contrib/systemd/ticketd.sysusers $(DESTDIR)$(SYSUSERSDIR)/ticketd.conf
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/ticketd
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/ticketd/credentials
	test -e $(DESTDIR)$(SYSCONFDIR)/ticketd/config.toml || install -m 0644 config.example.toml $(DESTDIR)$(SYSCONFDIR)/ticketd/config.toml

# verify-unit: systemd-analyze verify of the unit as make install puts it,
# in a staging root with a copy of the system's units (the targets it
# names); any finding, an unknown key too, fails. CI runs it in .ci/run.
verify-unit: SHELL := /bin/bash
verify-unit:
	root=$$(mktemp -d) && trap 'rm -rf "$$root"' EXIT && \
	$(MAKE) --no-print-directory install DESTDIR="$$root" >/dev/null && \
	mkdir -p "$$root/bin" "$$root/usr/lib/systemd" && cp /bin/kill "$$root/bin/kill" && \
	cp -r /usr/lib/systemd/system "$$root/usr/lib/systemd/system" && \
	out=$$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --root="$$root" "$$root$(UNITDIR)/ticketd.service" 2>&1); rc=$$?; \
	if [ -n "$$out" ]; then printf '%s\n' "$$out"; echo "verify-unit: systemd-analyze has findings (above)"; exit 1; fi; exit $$rc

clean:
	rm -rf bin
