#!/usr/bin/env bash
# A screenshot of the usage page: starts the quickstart on 127.0.0.1, sends it some traffic,
# and has headless Chromium (Debian's `chromium`) render /internal/usage to a PNG.
#
#   scripts/usage-screenshot.sh [out.png]      # default docs/usage-page.png
#
# PORT (default 3917) and CHROMIUM (default chromium) change the port and the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/usage-page.png}
port=${PORT:-3917}
chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || { echo "no $chromium: apt-get install chromium" >&2; exit 1; }

cargo build --quiet --example quickstart
profile=$(mktemp -d)
TOWER_GA_USAGE_DB="sqlite://$profile/usage.db" PORT=$port RUST_LOG=warn \
  target/debug/examples/quickstart >/dev/null &
app=$!
trap 'kill $app 2>/dev/null || true; rm -rf "$profile"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

call() { # count path [curl args]
  local n=$1 path=$2; shift 2
  for _ in $(seq "$n"); do curl -s -o /dev/null "$@" "$base$path"; done
}
call 120 /users/7
call 45 '/items?page=2&token=abc'
call 18 /me -H 'Authorization: Bearer k1'
call 7 /v1/items -H 'Authorization: Bearer partner-7'
call 2 /v1/items -H 'Authorization: Bearer partner-9'
call 6 /nope
sleep 0.5 # the quickstart's sender hands hits to the table every 200 ms

"$chromium" --headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1100,760 \
  --screenshot="$out" "$base/internal/usage" 2>/dev/null
echo "wrote $out"
