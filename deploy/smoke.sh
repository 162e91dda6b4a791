#!/usr/bin/env bash
# Smoke check of a running Decidero, from outside (through Caddy) or on the server.
#
#   deploy/smoke.sh https://decidero.example.com [LOGIN PASSWORD]
#
# Checks: GET and HEAD /health are healthy; the login page is served with a CSRF token;
# signing in sets the decidero_session cookie; the event stream answers.
#
# Without LOGIN and PASSWORD it registers a throwaway participant named smoke-<random>
# (delete those in Manage Users now and then). It refuses to do so while no admin
# exists, because the first account registered becomes super_admin, and it cannot
# when registration is blocked at Caddy: then pass an account.
#
# The event stream check opens /meeting/$SMOKE_MEETING_ID/events with the session and
# expects the first frame (retry: 3000 and a hello event) within SMOKE_STREAM_SECONDS
# (default 3). Without SMOKE_MEETING_ID it only checks that /meeting/none/events refuses
# promptly (401, 403 or 404) instead of hanging.
#
# Prints one line per check and a summary; exits 1 if any check failed.
set -uo pipefail

if [[ $# -ne 1 && $# -ne 3 ]]; then
    echo "usage: smoke.sh BASE_URL [LOGIN PASSWORD]" >&2
    exit 2
fi
base=${1%/}
login=${2:-}
password=${3:-}
timeout=${SMOKE_TIMEOUT:-10}
stream_seconds=${SMOKE_STREAM_SECONDS:-3}
meeting_id=${SMOKE_MEETING_ID:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar="$work/cookies"
passed=0
failed=0

ok() {
    echo "ok    $1"
    passed=$((passed + 1))
}

bad() {
    echo "FAIL  $1: $2"
    failed=$((failed + 1))
}

# http NAME URL [curl args...]: writes $work/NAME.head and $work/NAME.body, prints the
# status code (000 when there was no answer) and returns curl's exit code.
http() {
    local name=$1 url=$2
    shift 2
    : >"$work/$name.head"
    : >"$work/$name.body"
    curl -sS --connect-timeout 3 --max-time "$timeout" -b "$jar" -c "$jar" \
        -D "$work/$name.head" -o "$work/$name.body" -w '%{http_code}' "$@" "$url" \
        2>"$work/$name.err"
}

why() {
    local code=$1 name=$2
    if [[ $code == 000 ]]; then
        echo "no answer ($(head -c 200 "$work/$name.err"))"
    else
        echo "HTTP $code"
    fi
}

csrf_of() {
    tr '\n' ' ' <"$work/$1.body" | grep -o '<input[^>]*name="csrf_token"[^>]*>' | head -n 1 |
        sed -n 's/.*value="\([^"]*\)".*/\1/p'
}

has_session_cookie() {
    grep -qi '^set-cookie: *decidero_session=' "$work/$1.head"
}

check_health() {
    local code
    code=$(http health "$base/health")
    if [[ $code != 200 ]]; then
        bad "GET /health" "$(why "$code" health), expected 200"
    elif ! grep -Eq '"status" *: *"healthy"' "$work/health.body" ||
        ! grep -Eq '"database" *: *"connected"' "$work/health.body"; then
        bad "GET /health" "unexpected body: $(head -c 200 "$work/health.body")"
    else
        ok "GET /health is healthy"
    fi
    code=$(http health_head "$base/health" --head)
    if [[ $code == 200 ]]; then
        ok "HEAD /health answers 200"
    else
        bad "HEAD /health" "$(why "$code" health_head), expected 200"
    fi
}

check_login_page() {
    local code
    code=$(http login_page "$base/login")
    if [[ $code != 200 ]]; then
        bad "GET /login" "$(why "$code" login_page), expected 200"
    elif [[ -z $(csrf_of login_page) ]]; then
        bad "GET /login" "the page has no csrf_token input"
    else
        ok "GET /login serves the sign-in form"
    fi
}

# Sets login and password, or explains in $reason why it could not.
register_throwaway() {
    local code token
    if grep -q 'FIRST-TIME SETUP REQUIRED' "$work/login_page.body"; then
        reason="no admin exists yet and the first account registered becomes super_admin;
register the first admin at $base/register, or pass LOGIN PASSWORD"
        return 1
    fi
    code=$(http register_page "$base/register")
    token=$(csrf_of register_page)
    if [[ $code != 200 || -z $token ]]; then
        reason="cannot register a throwaway account: GET /register gave $(why "$code" register_page);
if registration is closed, pass LOGIN PASSWORD"
        return 1
    fi
    login="smoke-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    password="Sm0ke!$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')"
    code=$(http register "$base/register" --data-urlencode "login=$login" \
        --data-urlencode "password=$password" --data-urlencode "confirm_password=$password" \
        --data-urlencode "csrf_token=$token")
    if [[ $code != 303 ]]; then
        reason="registering throwaway account $login gave $(why "$code" register), expected 303"
        return 1
    fi
}

check_session() {
    local code token reason=""
    if [[ -z $login ]] && ! register_throwaway; then
        bad "sign in" "${reason//$'\n'/ }"
        return
    fi
    code=$(http login_form "$base/login")
    token=$(csrf_of login_form)
    if [[ -z $token ]]; then
        bad "sign in as $login" "cannot get a csrf_token from /login ($(why "$code" login_form))"
        return
    fi
    code=$(http login "$base/login" --data-urlencode "login=$login" \
        --data-urlencode "password=$password" --data-urlencode "csrf_token=$token")
    if [[ $code == 303 ]] && has_session_cookie login; then
        ok "sign in as $login sets the decidero_session cookie"
    else
        bad "sign in as $login" "$(why "$code" login) without a decidero_session cookie, expected 303 with one"
    fi
}

check_events() {
    local code
    if [[ -n $meeting_id ]]; then
        # Ask for compression as browsers do: a proxy that compresses the stream then fails here.
        code=$(timeout=$stream_seconds http events "$base/meeting/$meeting_id/events" -N \
            -H 'Accept: text/event-stream' -H 'Accept-Encoding: gzip, deflate, br, zstd')
        if [[ $code != 200 ]]; then
            bad "event stream of meeting $meeting_id" "$(why "$code" events), expected 200"
        elif ! grep -qi '^content-type: *text/event-stream' "$work/events.head"; then
            bad "event stream of meeting $meeting_id" "Content-Type is not text/event-stream"
        elif ! grep -q '^retry: *3000' "$work/events.body" || ! grep -q '^event: *hello' "$work/events.body"; then
            bad "event stream of meeting $meeting_id" \
                "no retry/hello frame within ${stream_seconds}s (buffered or compressed by the proxy?)"
        else
            ok "event stream of meeting $meeting_id delivers its first frame"
        fi
        return
    fi
    code=$(timeout=5 http events "$base/meeting/none/events" -H 'Accept: text/event-stream')
    case $code in
    401 | 403 | 404) ok "event stream endpoint refuses an unknown meeting promptly (HTTP $code)" ;;
    *) bad "GET /meeting/none/events" "$(why "$code" events), expected 401, 403 or 404 within 5s" ;;
    esac
}

check_health
check_login_page
check_session
check_events

echo "smoke: $passed passed, $failed failed ($base)"
[[ $failed -eq 0 ]]
