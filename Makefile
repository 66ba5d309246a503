# LessonLink — make targets
#
#   make serve          install what is missing, build, run the server on 127.0.0.1:8080 (config/lessonlink.yaml)
#   make test           install what is missing, build, run every test (the CI command)
#   make seed           load the demonstration county (config/demo-county.yaml)
#   make install        install as a systemd service (/usr/local/bin, /etc/lessonlink, /var/lib/lessonlink)
#   make build          debug build of everything
#   make release        optimised build (CI builds it too: some compiler bugs only show there)
#   make bench-ladder   ladder benchmark against the ffmpeg CLI (scripts/bench-ladder), then a passed-through recording
#   make bench-delivery segment delivery against nginx with wrk, and 135 classrooms playing at once
#   make bench-packs    a 2 GB pack: ZIP download against nginx, lessonlink mirror against curl
#   make bench-session  one synchronized session in 135 classrooms (132 simulated, 3 Chromium kiosks)
#   make bench-orders   50,000 orders: the inboxes and the county view over HTTP (p95 <= 30 ms)
#   make bench-live     a 1080p live lesson relayed to 135 classrooms, CPU against the ffmpeg CLI
#   make bench-runners  the same lessons by one and by two remote runners (a core each), and the protocol's cost
#   make format / lint  swift-format the sources / check them
#   make deps           install the Debian packages the build needs, if missing (test-deps: and the tests)
#   make clean          remove build output

SHELL := /bin/bash
# Build: FFmpeg's libraries and SQLite. Tests and benchmarks: the ffmpeg CLI makes fixtures.
APT_PACKAGES := pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
	libswresample-dev libavfilter-dev libsqlite3-dev zlib1g-dev libqrencode-dev ffmpeg
# Tests only: a real browser for the web pages (and a CJK font, so its screenshots show Chinese),
# a QR decoder for the printed certificate, systemd-analyze for the service units, and real clients from PyPI (with an independent
# credential verifier: rfc8785, base58, cryptography; moto's S3 server and boto3 for object storage).
TEST_APT_PACKAGES := chromium chromium-driver fonts-wqy-microhei zbar-tools systemd
PYTHON_PACKAGES := tuspy selenium pytest requests schemathesis rfc8785 base58 cryptography m3u8 'moto[server]' boto3
SWIFT_SOURCES := Package.swift Sources Tests

.PHONY: serve seed install test build release bench-ladder bench-delivery bench-packs bench-session bench-orders bench-live bench-runners format lint deps test-deps apt-install clean

deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"
	@python3 -c "import tusclient, selenium, pytest, requests, schemathesis, rfc8785, base58, cryptography, m3u8, moto.server, boto3" 2>/dev/null || python3 -m pip install -q $(PYTHON_PACKAGES)

apt-install:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

serve: deps
	swift build -c release --product lessonlink
	swift build -c release --product lessonlink-mirror
	.build/release/lessonlink serve

seed: deps
	swift build -c release --product lessonlink
	.build/release/lessonlink seed --demo

install: deps
	swift build -c release --product lessonlink
	swift build -c release --product lessonlink-mirror
	.build/release/lessonlink install

build: deps
	swift build

release: deps
	swift build -c release

test: test-deps
	swift build --build-tests
	swift test
	python3 -m pytest -q -p no:cacheprovider Tests/system

bench-ladder: deps
	scripts/bench-ladder
	scripts/bench-ladder --case recorder --skip-per-tier

bench-delivery: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="wrk nginx-light sqlite3"
	scripts/bench-delivery
	scripts/bench-classrooms

bench-packs: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="nginx-light curl time"
	swift build -c release
	scripts/bench-packs

bench-session: test-deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="sqlite3"
	@python3 -c "import aiohttp" 2>/dev/null || python3 -m pip install -q aiohttp
	scripts/bench-session

bench-orders: deps
	swift build -c release --product lessonlink
	scripts/bench-orders

bench-live: test-deps
	@python3 -c "import aiohttp" 2>/dev/null || python3 -m pip install -q aiohttp
	swift build -c release --product lessonlink
	scripts/bench-live

bench-runners: deps
	swift build -c release --product lessonlink
	scripts/bench-runners

format:
	swift format --in-place --recursive $(SWIFT_SOURCES)

lint:
	swift format lint --strict --recursive $(SWIFT_SOURCES)

clean:
	rm -rf .build
