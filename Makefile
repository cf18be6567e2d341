# chefdeploy — the two commands a newcomer needs are `make run` and `make test`.
# Both bring up a local PostgreSQL (scripts/devdb.sh) when DATABASE_URL is unset.

SHELL := /bin/bash
DEVDB := scripts/devdb.sh
GO_FILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')

.PHONY: run test generate check-generated lint build

## run: the product on http://127.0.0.1:8080 with the built-in Convex sandbox (unless PROVISION_HOST is set)
run:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy) || exit 1; fi; \
	DATABASE_URL="$$url" go run . serve

## test: every test against a real PostgreSQL (each test gets its own database)
test:
	@url="$$DATABASE_URL"; if [ -z "$$url" ]; then url=$$($(DEVDB) chefdeploy_test) || exit 1; fi; \
	DATABASE_URL="$$url" go test -race -count=1 ./...

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
