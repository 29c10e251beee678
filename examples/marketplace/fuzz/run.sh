#!/usr/bin/env bash
# API fuzzing: schemathesis against the example server, every check, every operation.
#
# Starts `marketplace` on a free port with a throwaway sled directory, logs in as a demo user
# (sending its platform's key, X-PUBLIC-KEY, with every request),
# runs schemathesis over the server's own OpenAPI document (examples, coverage, fuzzing and
# stateful phases) twice: once with made-up ids (mostly 404s) and once with every `{uuid}`
# fixed to a real conversation of that user (sends, edits, reads, archive, clear, 409s on a
# direct conversation), and stops the server. Fails on any failure schemathesis reports (server
# errors, answers that break the document, schema-valid requests refused, invalid ones
# accepted, ...) and when fewer than CHAT_FUZZ_MIN_CASES cases were generated.
#
# Environment:
#   CHAT_FUZZ_MAX_EXAMPLES  cases per operation and phase (default 40: about 2,700 cases)
#   CHAT_FUZZ_MIN_CASES     fail below this many generated cases (default 2000)
#   CHAT_FUZZ_SEED          the seed (default 1, so that CI runs are repeatable; `random`
#                           for a new one each run)
#   CHAT_FUZZ_VENV          Python venv with schemathesis (default /var/tmp/chat-venv;
#                           created with `pip install schemathesis` when missing)
#   MARKETPLACE_BIN         a built server binary (default: cargo build -p marketplace)
#   DATABASE_URL            run the server on Postgres, in a fresh schema chat_fuzz_<uuid>
#                           dropped at the end (default: sled in a temporary directory)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
max_examples="${CHAT_FUZZ_MAX_EXAMPLES:-40}"
min_cases="${CHAT_FUZZ_MIN_CASES:-2000}"
venv="${CHAT_FUZZ_VENV:-/var/tmp/chat-venv}"

if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "fuzz: installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet 'schemathesis>=4.3,<5'
fi

if [ -z "${MARKETPLACE_BIN:-}" ]; then
    (cd "$root" && cargo build --quiet -p marketplace)
    MARKETPLACE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/marketplace"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/chat-fuzz.XXXXXX")"
server_pid=""
# With DATABASE_URL the server runs on Postgres, in a schema of this run's own (dropped at
# the end), so that no earlier run's data or migrations are in its way.
if [ -n "${DATABASE_URL:-}" ]; then
    export MARKETPLACE_PG_SCHEMA="chat_fuzz_$(python3 -c 'import uuid; print(uuid.uuid4().hex)')"
fi
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "${DATABASE_URL:-}" ] && command -v psql >/dev/null; then
        psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $MARKETPLACE_PG_SCHEMA CASCADE" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
RUST_LOG="${RUST_LOG:-warn}" "$MARKETPLACE_BIN" --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$base/api/v1/chat/openapi.json" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "fuzz: the server did not start:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

login="$(curl -fsS -X POST -H 'content-type: application/json' -d '{"user_id":"buyer-ana"}' "$base/demo/login")"
token="$(printf '%s' "$login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
# The example serves two platforms: every chat request names the user's one.
platform_key="$(printf '%s' "$login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["platform_key"])')"

seed="${CHAT_FUZZ_SEED:-1}"
seed_args=()
if [ "$seed" != random ]; then seed_args=(--seed "$seed"); fi

# A real conversation for the second pass, with one message in it.
conversation="$(curl -fsS -X POST -H "Authorization: Bearer $token" -H "X-PUBLIC-KEY: $platform_key" -H 'content-type: application/json' \
    -d '{"participant_uuid":"seller-ines","taggable_type":"fuzz","taggable_id":1}' "$base/api/v1/chat/conversations" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["uuid"])')"
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $token" -H "X-PUBLIC-KEY: $platform_key" -H 'content-type: application/json' \
    -d '{"body":"hello"}' "$base/api/v1/chat/conversations/$conversation/messages"
cp "$here/schemathesis.toml" "$work/conversation.toml"
printf '\n[parameters]\n"path.uuid" = "%s"\n' "$conversation" >>"$work/conversation.toml"

run_pass() {
    local name="$1" config="$2" status=0
    echo "fuzz: pass $name"
    (cd "$work" && "$venv/bin/schemathesis" --config-file "$config" --no-color \
        run "$base/api/v1/chat/openapi.json" \
        --url "$base/api/v1/chat" \
        -H "Authorization: Bearer $token" \
        -H "X-PUBLIC-KEY: $platform_key" \
        --checks all \
        --max-examples "$max_examples" \
        --request-timeout 10 \
        "${seed_args[@]}") | tee "$work/$name.txt" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "fuzz: schemathesis reported failures in pass $name (exit $status)" >&2
        exit "$status"
    fi
}
run_pass made-up-ids "$here/schemathesis.toml"
run_pass real-conversation "$work/conversation.toml"

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz: the server died during the run:" >&2
    tail -50 "$work/server.log" >&2
    exit 1
fi
cases=0
for report in "$work/made-up-ids.txt" "$work/real-conversation.txt"; do
    n="$(grep -Eo '[0-9]+ generated' "$report" | tail -1 | grep -Eo '[0-9]+' || echo 0)"
    cases=$((cases + n))
done
if [ "$cases" -lt "$min_cases" ]; then
    echo "fuzz: only $cases cases generated, fewer than CHAT_FUZZ_MIN_CASES=$min_cases" >&2
    exit 1
fi
echo "fuzz: $cases cases, 0 failures"
