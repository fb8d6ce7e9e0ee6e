#!/usr/bin/env bash
# The main job, end to end, against the bundled sandbox: build hsm, start `hsm sandbox`,
# log in through the (auto-approving) consent flow, show the session, rotate the tokens,
# create a contact, show the session again. Needs only Rust and curl; touches no keychain or config of yours.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first build compiles every dependency and takes a few minutes: cargo's own progress
# (its "Compiling ..." lines and bar) shows it is working.
echo "Building hsm with cargo (the first build takes a few minutes; later ones seconds)..." >&2
cargo build
hsm="$PWD/target/debug/hsm"
work=$(mktemp -d)
trap 'kill "$sandbox_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# Keep everything of this demo in a temp dir: config, a 0600 credentials file, locks.
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/xdg-state" HSM_STATE_DIR="$work/state"
export HSM_CREDENTIAL_STORE=file HSM_CREDENTIALS_FILE="$work/credentials.json"
export NO_PROXY="127.0.0.1,localhost"

"$hsm" sandbox --port 0 --auto-approve >"$work/sandbox.url" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do [ -s "$work/sandbox.url" ] && break; sleep 0.1; done
export HSM_SANDBOX_URL
HSM_SANDBOX_URL=$(head -n1 "$work/sandbox.url")
echo "sandbox running at $HSM_SANDBOX_URL"

# The "browser": curl follows the sandbox's approval redirect to hsm's loopback listener.
export HSM_BROWSER="curl -fsSL -o /dev/null"
redirect_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 8765)

set -x
"$hsm" login --env sandbox --redirect-uri "http://127.0.0.1:$redirect_port/callback"
"$hsm" token show --env sandbox
"$hsm" token refresh --env sandbox
"$hsm" contacts create --env sandbox --external-id CRM123 --first-name John --last-name Doe --zip 94103
"$hsm" token show --env sandbox --json
"$hsm" status
{ set +x; } 2>/dev/null

# Where the binary is, and what to try next: `hsm` is not on PATH yet.
cat <<EOF

Done. The hsm this built is $hsm
Next, try it yourself against the sandbox, in two terminals:
  $hsm sandbox
  $hsm login --env sandbox
To have hsm on your PATH: cargo install --locked --path .
EOF
