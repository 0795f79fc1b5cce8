#!/usr/bin/env bash
# The one command that runs every check on a fresh Debian machine:
#   installs the test peers (BIND, Knot, moto, Prism), then fmt, clippy and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-test-deps.sh

# Cloudflare's OpenAPI schema is not in the repository (../shared/testdata/ beside it, or
# DNSFAILBACK_CLOUDFLARE_SCHEMA). On a fresh clone without it, the three schema tests are
# filtered out by name (reported as filtered out, not passed) with a loud message here and at
# the end; in CI (CI=true) a missing schema fails.
SCHEMA="${DNSFAILBACK_CLOUDFLARE_SCHEMA:-../shared/testdata/cloudflare-dns-openapi.json}"
SCHEMA_SKIPPED=""
SKIP_ARGS=()
if [ ! -f "$SCHEMA" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "error: Cloudflare's OpenAPI schema is missing at $SCHEMA (CI must run the schema tests)" >&2
        exit 1
    fi
    # Filtered out by name (cargo reports them as "filtered out", never as passed).
    SCHEMA_TESTS=(
        prism_mock_accepts_every_request_kind_the_adapter_sends
        conformance_through_prism_proxy_in_front_of_the_fake
        a_bad_cloudflare_token_needs_an_operator_and_reload_with_the_fixed_token_resumes
    )
    for t in "${SCHEMA_TESTS[@]}"; do SKIP_ARGS+=(--skip "$t"); done
    SCHEMA_SKIPPED="Cloudflare's OpenAPI schema is missing at $SCHEMA: the 3 Prism schema tests were SKIPPED, not run (${SCHEMA_TESTS[*]}). Put cloudflare-dns-openapi.json in ../shared/testdata/ or set DNSFAILBACK_CLOUDFLARE_SCHEMA to run them."
    echo "================================================================" >&2
    echo "WARNING: $SCHEMA_SKIPPED" >&2
    echo "================================================================" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- "${SKIP_ARGS[@]}"

if [ -n "$SCHEMA_SKIPPED" ]; then
    echo "================================================================" >&2
    echo "WARNING: $SCHEMA_SKIPPED" >&2
    echo "================================================================" >&2
fi
