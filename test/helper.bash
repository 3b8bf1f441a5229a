# Shared helpers for the ztpipe bats suite.
bats_require_minimum_version 1.5.0

ZTPIPE=${ZTPIPE:-$BATS_TEST_DIRNAME/../ztpipe}
BG_PIDS=()

# make test-windows runs ztpipe.exe under wine through test/wine-ztpipe,
# which passes a SIGTERM on as Ctrl-C: TERM_NO is the number ztpipe
# then gives the signal in what it says (SIGINT's there).
if [[ $ZTPIPE == */wine-ztpipe ]]; then
	UNDER_WINE=1 TERM_NO=2
else
	UNDER_WINE='' TERM_NO=15
fi

# The real python interpreter, found once per run and exported: python3
# on PATH may be a version-manager shim (pyenv) that takes a second to
# start on a busy machine, and tests must not depend on how fast it is.
if [ -z "${PYTHON:-}" ]; then
	PYTHON_CACHE=${BATS_RUN_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/python
	if [ -s "$PYTHON_CACHE" ]; then
		PYTHON=$(<"$PYTHON_CACHE")
	else
		PYTHON=$(python3 -c 'import sys; print(sys.executable)')
		echo "$PYTHON" >"$PYTHON_CACHE.$$" && mv -f "$PYTHON_CACHE.$$" "$PYTHON_CACHE"
	fi
fi
export PYTHON

# A TCP port nobody listens on right now (the kernel picks it).
free_port() {
	"$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for_port PORT: until something listens there (10 s at most).
# It asks ss(8), so it neither spawns python nor uses up the connection of
# a listener that serves one.
wait_for_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

# wait_for_file FILE PATTERN: until FILE has a line matching PATTERN (10 s).
# Bounds like this one only end a hang; a pass never depends on them.
wait_for_file() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no '$2' in $1" >&2
	return 1
}

# start_bg CMD...: run in the background with the caller's stdin (bash would
# give it /dev/null), fd 3 closed so bats does not wait for it, and fd 5
# (where tests hold a FIFO's write end) closed so EOF can happen.
start_bg() {
	"$@" <&0 3>&- 5>&- &
	BG_PIDS+=("$!")
	BG_PID=$!
}

# stop_bg: kill every background process this test started, and their
# children (a bash -c pipeline's timeouts, which pass it on to ztpipe).
stop_bg() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		pkill -P "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	BG_PIDS=()
}

# ztpipe_pid PID: the ztpipe that timeout(1) (or another wrapper) PID runs,
# once it runs.  Under wine it is test/wine-ztpipe, which passes a
# SIGTERM or SIGINT on as Ctrl-C: ask once ztpipe.exe has said something.
ztpipe_pid() {
	local exe pid i
	exe=$(realpath "$ZTPIPE")
	for ((i = 0; i < 200; i++)); do
		for pid in $(pgrep -P "$1"); do
			if [ "$(readlink "/proc/$pid/exe")" = "$exe" ] ||
			    { [ -n "$UNDER_WINE" ] &&
			    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null |
			    grep -qxF "$ZTPIPE"; }; then
				echo "$pid"
				return 0
			fi
		done
		sleep 0.05
	done
	echo "no ztpipe under pid $1" >&2
	return 1
}

# hold_open FIFO: a new FIFO whose writer stays but never writes (60 s).
hold_open() {
	mkfifo "$1"
	start_bg bash -c 'exec sleep 60 >"$1"' _ "$1"
}

# wait_exit PID SECS: wait for a background pid; sets EXIT_STATUS.
# Fails if it is still running after SECS.
wait_exit() {
	local pid=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			EXIT_STATUS=0
			wait "$pid" || EXIT_STATUS=$?
			return 0
		fi
		sleep 0.05
	done
	echo "pid $pid still running after $secs s" >&2
	return 1
}

# listen_bg ARGS...: start "ztpipe -l -v ARGS" (stdin/stdout from the
# caller's redirections via LISTEN_IN/LISTEN_OUT), wait until it listens,
# set PORT from its -v line.
listen_bg() {
	LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
	: >"$LISTEN_ERR"	# now: a second listener's own redirection
	# comes after the fork, and the wait could read the first one's port
	start_bg timeout 30 "$ZTPIPE" -l -v "$@" <"${LISTEN_IN:-/dev/null}" \
	    >"${LISTEN_OUT:-$BATS_TEST_TMPDIR/listen.out}" 2>"$LISTEN_ERR"
	LISTEN_PID=$BG_PID
	wait_for_file "$LISTEN_ERR" 'listening on' || return 1
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR" | head -n 1)
	[ -n "$PORT" ]
}

# wait_for_size FILE BYTES [-l]: until FILE holds BYTES bytes, or with -l
# that many lines (20 s).
wait_for_size() {
	local i n
	for ((i = 0; i < 400; i++)); do
		n=$(wc "${3:--c}" <"$1" 2>/dev/null || echo 0)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "$1 has $n, not $2 (wc ${3:--c})" >&2
	return 1
}

# tm ARGS: tmux on this test's own server ($TMUX_SOCK), UTF-8 forced.
tm() {
	tmux -u -L "$TMUX_SOCK" "$@"
}

# tm_quit: ^C to what still runs in each pane, a wait (10 s at most) for
# the panes to close, then the server.  kill-server alone hangs up the
# terminals, and the hangup's SIGCONT can land while LeakSanitizer checks
# an exiting ztpipe-san (make sanitize): both then spin for ever.
tm_quit() {
	local s i
	for s in $(tm list-sessions -F '#S' 2>/dev/null); do
		tm send-keys -t "$s" C-c 2>/dev/null || true
	done
	for ((i = 0; i < 100; i++)); do
		[ -z "$(tm list-sessions 2>/dev/null)" ] && break
		sleep 0.1
	done
	tm kill-server 2>/dev/null || true
}

# screen_has SESSION TEXT: the pane shows TEXT within 10 s.
screen_has() {
	local i
	for ((i = 0; i < 200; i++)); do
		tm capture-pane -p -t "$1" 2>/dev/null | grep -qF -- "$2" && return 0
		sleep 0.05
	done
	echo "session $1 never showed: $2" >&2
	tm capture-pane -p -t "$1" >&2 || true
	return 1
}

# random_file FILE BYTES
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# strerror() wording differs between C libraries: each pattern matches
# glibc's and musl's (make test-static), for [[ $stderr == *$E_TIMEDOUT ]].
E_ADDRINUSE='Address @(already |)in use'
E_ADDRNOTAVAIL='@(Cannot assign requested address|Address not available)'
E_NETUNREACH='Network @(is |)unreachable'
E_TIMEDOUT='@(Connection|Operation) timed out'

sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

# full_backlog: a loopback listener that never answers (listen(0), its
# backlog filled by two pending connections): a connect to it hangs.
# Its port in PORT.
full_backlog() {
	"$PYTHON" - "$BATS_TEST_TMPDIR/full.port" <<'PY' 3>&- &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(2):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", port))
    held.append(c)
time.sleep(0.3)
open(sys.argv[1], "w").write("%d\n" % port)
time.sleep(60)
PY
	BG_PIDS+=("$!")
	wait_for_file "$BATS_TEST_TMPDIR/full.port" '[0-9]'
	PORT=$(cat "$BATS_TEST_TMPDIR/full.port")
}

# check_lines FILE CLIENTS N: FILE holds exactly the N lines ("cID SEQ
# x...") each of CLIENTS clients sent: every line whole, each client's
# in order.
check_lines() {
	"$PYTHON" - "$@" <<'PY'
import re, sys
f, clients, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
nxt, total = {}, 0
for line in open(f, "rb"):
    total += 1
    m = re.fullmatch(rb"c(\d+) (\d{6}) (x*)\n", line)
    if not m:
        sys.exit("torn line %d: %r" % (total, line[:60]))
    c, i = int(m[1]), int(m[2])
    if i != nxt.get(c, 0):
        sys.exit("client %d: line %d after %d" % (c, i, nxt.get(c, 0) - 1))
    nxt[c] = i + 1
if total != clients * n or len(nxt) != clients:
    sys.exit("%d lines from %d clients, not %d from %d"
             % (total, len(nxt), clients * n, clients))
PY
}

teardown() {
	stop_bg
}

# peak_rss FILE CMD...: run CMD, write its peak RSS in KiB to FILE,
# return its status.  GNU time measures CMD itself (a child of python
# would be charged python's own memory).
peak_rss() {
	local file=$1 rc=0
	shift
	/usr/bin/time -f %M -o "$file.time" "$@" || rc=$?
	tail -n 1 "$file.time" >"$file"	# after any "Command exited ..."
	return "$rc"
}

# expect_reset PORT [SOURCE]: a client that connects (from SOURCE) and only
# reads learns of its refusal as a reset, not as a clean EOF.
expect_reset() {
	run timeout 10 "$PYTHON" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])),
                             source_address=(sys.argv[2], 0))
s.settimeout(5)
try:
    b = s.recv(1)
except ConnectionResetError:
    sys.exit(0)
sys.exit("got %r, not a reset" % b)' "$1" "${2:-127.0.0.1}"
	echo "$output"
	[ "$status" -eq 0 ]
}

# receiver_failed_with_prefix GOT PAYLOAD: the listener (the receiver)
# exited 1 and GOT is a true prefix of PAYLOAD, short of all of it.
receiver_failed_with_prefix() {
	local n
	wait_exit "$LISTEN_PID" 10
	echo "receiver: status $EXIT_STATUS, $(stat -c %s "$1") bytes"
	[ "$EXIT_STATUS" -eq 1 ]
	n=$(stat -c %s "$1")
	[ "$n" -lt "$(stat -c %s "$2")" ]
	cmp -n "$n" "$2" "$1"
}
