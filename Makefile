# Entry points; the real work is in scripts/ and deploy/.
#   make test         the whole suite (scripts/test.sh)
#   make demo         build and run the demo bot (scripts/demo.sh)
#   make demo-stack   the demo bot plus a local Prometheus with deploy/prometheus and, without
#                     SENTRY_DSN, a local Sentry ingest for its traces (deploy/demo-stack.sh)
#                     FLEET=1: three replicas, Prometheus, Alertmanager and VictoriaMetrics
#                     on free ports (deploy/fleet-stack.sh)
#   make deploy-check promtool, dashboards and the live end-to-end check of deploy/
#   make fleet-check  the fleet end-to-end test (tests/e2e/fleet.sh)
BUILD_DIR ?= build/release
DEMO_BIN := $(BUILD_DIR)/examples/monitoring-demo
JOBS ?= $(shell nproc)

.PHONY: test demo demo-stack demo-build deploy-check fleet-check

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

demo-build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) --target monitoring-demo -j$(JOBS)

FLEET ?=
demo-stack: demo-build
ifeq ($(FLEET),)
	DEMO=$(DEMO_BIN) bash deploy/demo-stack.sh
else
	DEMO=$(DEMO_BIN) bash deploy/fleet-stack.sh
endif

deploy-check: demo-build
	bash tests/e2e/deploy_assets.sh $(DEMO_BIN)

fleet-check: demo-build
	bash tests/e2e/fleet.sh $(DEMO_BIN)
