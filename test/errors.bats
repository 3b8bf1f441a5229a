#!/usr/bin/env bats
# Bad input and bad networks: one clear line, the right status, no hang.

load helper

@test "connection refused: status 1 and a message naming address and port" {
	local port
	port=$(free_port)
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$port" </dev/null
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "ztpipe: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "an unknown host: status 1 and the message names it" {
	# bad..host fails inside the resolver, no query leaves the machine.
	run --separate-stderr timeout 5 "$ZTPIPE" bad..host 1 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: bad..host: "* ]] || false
}

@test "address in use: status 1 and a message" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -l 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Address already in use"* ]] || false
}

@test "-4 with an IPv6 address and -6 with an IPv4 one say so (status 2)" {
	run --separate-stderr timeout 5 "$ZTPIPE" -4 -l ::1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"::1 is not an IPv4 address (-4)"* ]] || false
	run --separate-stderr timeout 5 "$ZTPIPE" -6 127.0.0.1 1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"127.0.0.1 is not an IPv6 address (-6)"* ]] || false
}

# A loopback listener with a full backlog: connects to it hang.
full_backlog() {
	"$PYTHON" - "$1" <<'PY' 3>&- &
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
	wait_for_file "$1" '[0-9]'
	PORT=$(cat "$1")
}

@test "-w 1 gives up on a peer that never answers, with status 1" {
	full_backlog "$BATS_TEST_TMPDIR/port"
	SECONDS=0
	run --separate-stderr timeout 10 "$ZTPIPE" -w 1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 4 ]
	[[ "$stderr" == *"connect to 127.0.0.1 port $PORT: Connection timed out"* ]] || false
}

@test "-l -w 1 gives up when no peer comes" {
	run --separate-stderr timeout 10 "$ZTPIPE" -l -w 1 127.0.0.1 0 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no connection within 1 s"* ]] || false
}

@test "the receiver killed mid-transfer: the sender exits 1 and says so" {
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	head -c 2000000000 /dev/zero | timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" \
	    2>"$BATS_TEST_TMPDIR/err" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	pkill -KILL -P "$LISTEN_PID"	# ztpipe under timeout
	wait_exit "$sender" 3 || { ps -ef | grep -E "ztpipe|head"; cat /proc/$(pgrep -f "^$ZTPIPE 127")/stack; false; }
	# the pipeline's status is ztpipe's
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eq "ztpipe: 127.0.0.1 port $PORT: (Connection reset by peer|Broken pipe)" \
	    "$BATS_TEST_TMPDIR/err"
}

@test "the sender killed mid-transfer: the receiver stops, with a prefix of the data" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 4000000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	(cat "$f"; sleep 30) | timeout 40 "$ZTPIPE" 127.0.0.1 "$PORT" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	pkill -KILL -P "$sender"	# ztpipe under timeout
	wait_exit "$LISTEN_PID" 3
	local n
	n=$(wc -c <"$BATS_TEST_TMPDIR/got")
	cmp -n "$n" "$f" "$BATS_TEST_TMPDIR/got"
}

@test "stdout closed early (| head -c 10): stops at once, no message, non-zero" {
	LISTEN_IN=/dev/zero listen_bg 127.0.0.1 0
	run bash -c "timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null \
	    2>'$BATS_TEST_TMPDIR/err' | head -c 10 | wc -c; echo \${PIPESTATUS[0]}"
	[ "${lines[0]}" = 10 ]
	[ "${lines[1]}" = 1 ]
	[ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "stdout that is /dev/full: a clear message and status 1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 100000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	run --separate-stderr bash -c "timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null >/dev/full"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: write to stdout: No space left on device" ]] || false
}

@test "SIGPIPE never kills it: a peer that vanished is an error message" {
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	yes | timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -TERM "$LISTEN_PID"
	wait_exit "$sender" 5
	[ "$EXIT_STATUS" -eq 1 ]
	[ -s "$BATS_TEST_TMPDIR/err" ]
}
