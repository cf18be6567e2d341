# chefdeploy — the two commands a newcomer needs are `make run` and `make test`.
# Both bring up a local PostgreSQL (scripts/devdb.sh) when DATABASE_URL is unset.

SHELL := /bin/bash
DEVDB := scripts/devdb.sh
GO_FILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')

.PHONY: run test test-js fuzz bench crash load chaos test-browser generate check-generated lint build

## run: the product on http://127.0.0.1:8080 with the built-in Convex sandbox (unless SANDBOX=false, or OIDC_ISSUER_URL, CONVEX_OAUTH_CLIENT_ID or PROVISION_HOST is set)
run:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy) || exit 1; fi; \
	DATABASE_URL="$$url" go run . serve

## test: every test against a real PostgreSQL (each test gets its own database)
test:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" go test -race -count=1 ./...

## test-js: the browser scripts' own tests, the product's and the sandbox's (Node.js's test runner)
test-js:
	node --test static/ sandbox/

## fuzz: the bundle validator under the fuzzer for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	go test -run '^$$' -fuzz FuzzValidate -fuzztime $(FUZZTIME) ./bundle
	go test -run '^$$' -fuzz FuzzEntryChecks -fuzztime $(FUZZTIME) ./bundle

## bench: status polling at 1,000 concurrent clients, Connect → connected, a 50 MB deploy, /support with 100,000 apps, a 500-create same-name flood, and the sites listener against http.FileServer (also loaded by wrk, installed from Debian as root when missing), numbers printed (README, Performance)
bench:
	@scripts/wrk.sh
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" go test -run '^$$' -bench 'StatusPolling|ConnectToConnected|Deploy50MB|SupportPage|SameNameFlood|Sites' -benchtime=1x -count=1 ./handlers ./sites

## crash: kill -9 the product mid-connect and restart it, CRASH_RUNS times (default 10) with the real 15s deadline; prints each recovery time
CRASH_RUNS ?= 10
crash:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" CRASH_DEADLINE=15s go test -count=$(CRASH_RUNS) -run '^TestKillDashNineMidConnectRecovers$$' -v -timeout 30m . | grep -E 'recovered|^(--- |ok|FAIL)'

## test-browser: the connect flow in a real headless Chromium (installs Debian's chromium when missing)
test-browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || exit 1; \
	  else echo "Chromium is missing; install it with: sudo apt-get update && sudo apt-get install -y chromium" >&2; exit 1; fi; \
	fi
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" go test -tags browser -count=1 -run TestBrowser -v -timeout 5m .

## build: one binary with every asset embedded
build:
	go build -o chefdeploy .

## generate: templ components and the Tailwind CSS (both committed), and the vendored HTMX
generate: node_modules/.installed
	go tool templ generate
	cp node_modules/htmx.org/dist/htmx.min.js static/htmx.min.js
	npx --no-install tailwindcss -c tailwind.config.js -i static/tailwind.css -o static/app.css --minify

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## check-generated: fails when a committed generated file is not what `make generate` makes
check-generated: generate
	@changed=$$(git status --porcelain -- '*_templ.go' static/); \
	if [ -n "$$changed" ]; then echo "generated files are stale; run make generate and commit:"; echo "$$changed"; exit 1; fi

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l $(GO_FILES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

## load: thousands of browsers over HTTP against the product started as real processes (REPLICAS=3 puts HAProxy in front); LOAD_FLAGS passes more (go run ./cmd/load -h)
REPLICAS ?= 1
LOAD_FLAGS ?=
load:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	if [ "$(REPLICAS)" != 1 ] && ! command -v haproxy >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy || exit 1; \
	  else echo "HAProxy is missing; install it with: sudo apt-get install -y haproxy" >&2; exit 1; fi; \
	fi; \
	DATABASE_URL="$$url" go run ./cmd/load -replicas $(REPLICAS) $(LOAD_FLAGS)

## chaos: kill -9 replicas mid-connect and mid-deploy, one of three behind HAProxy (installed from Debian by the tool when missing, as root), restart a throwaway PostgreSQL, random sandbox faults; prints what held (CHAOS_FLAGS: go run ./cmd/chaos -h; CI runs CHAOS_FLAGS='-only a,d -apps 30 -deadline 5s')
CHAOS_FLAGS ?=
chaos:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" go run ./cmd/chaos $(CHAOS_FLAGS)
