#!/usr/bin/env bats
# For scripts: -z probe, -R retry, -i idle, -P progress.

load helper

@test "-z exits 0 when something listens and sends nothing" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -z 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_exit "$LISTEN_PID" 10
	[ ! -s "$BATS_TEST_TMPDIR/listen.out" ]
}

@test "-z exits 1 when nothing listens, quietly unless -v" {
	local port
	port=$(free_port)
	run --separate-stderr timeout 5 "$ZTPIPE" -z 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[ -z "$stderr" ]
	run --separate-stderr timeout 5 "$ZTPIPE" -z -v 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"127.0.0.1 port $port: Connection refused"* ]] || false
}

@test "-z over a port range reports each open port" {
	listen_bg 127.0.0.1 0
	local lo=$((PORT - 2)) hi=$((PORT + 2))
	run --separate-stderr timeout 10 "$ZTPIPE" -z 127.0.0.1 "$lo-$hi"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"127.0.0.1 port $PORT open"* ]] || false
	[ "$(grep -c open <<<"$stderr")" -ge 1 ]
}

@test "-z with a bad range is a usage error" {
	run --separate-stderr timeout 5 "$ZTPIPE" -z 127.0.0.1 9000-8000
	[ "$status" -eq 2 ]
}

@test "-z -w 1 gives up on a peer that never answers" {
	"$PYTHON" - "$BATS_TEST_TMPDIR/port" <<'PY' 3>&- &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
held = []
for _ in range(2):
    c = socket.socket(); c.setblocking(False)
    c.connect_ex(s.getsockname()); held.append(c)
time.sleep(0.3)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
time.sleep(30)
PY
	BG_PIDS+=("$!")
	wait_for_file "$BATS_TEST_TMPDIR/port" '[0-9]'
	SECONDS=0
	run timeout 60 "$ZTPIPE" -z -w 1 127.0.0.1 "$(cat "$BATS_TEST_TMPDIR/port")"
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 20 ]	# -w 1, not TCP's minutes: a bound for a hang only
}

@test "-R: a sender started before its receiver still delivers everything" {
	local f=$BATS_TEST_TMPDIR/payload port
	random_file "$f" 2000000
	port=$(free_port)
	timeout 20 "$ZTPIPE" -R 10 -v 127.0.0.1 "$port" <"$f" \
	    2>"$BATS_TEST_TMPDIR/sender.err" 3>&- &
	local sender=$!
	BG_PIDS+=("$sender")
	wait_for_file "$BATS_TEST_TMPDIR/sender.err" 'trying again'
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 "$port"
	wait_exit "$sender" 10
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "-R gives up after its time with the last error and status 1" {
	local port
	port=$(free_port)
	SECONDS=0
	run --separate-stderr timeout 60 "$ZTPIPE" -R 1 127.0.0.1 "$port" </dev/null
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 20 ]	# a bound for a hang only
	[ "$stderr" = "ztpipe: connect to 127.0.0.1 port $port: Connection refused" ]
}

# now_ms: wall-clock milliseconds, for lower bounds finer than $SECONDS.
now_ms() {
	date +%s%3N
}

@test "-R 2 keeps trying for the whole 2 s when nothing listens, then exits 1" {
	local port t0 took
	port=$(free_port)
	t0=$(now_ms)
	run --separate-stderr timeout 20 "$ZTPIPE" -R 2 127.0.0.1 "$port" </dev/null
	took=$(($(now_ms) - t0))
	echo "took $took ms"
	[ "$status" -eq 1 ]
	[ "$took" -ge 2000 ]
	[ "$took" -lt 15000 ]
	[ "$stderr" = "ztpipe: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "-R 3 on a name with several addresses tries all of them for the whole 3 s" {
	local port t0 took
	port=$(free_port)
	t0=$(now_ms)
	run --separate-stderr timeout 20 "$ZTPIPE" -R 3 -v localhost "$port" </dev/null
	took=$(($(now_ms) - t0))
	echo "took $took ms"
	[ "$status" -eq 1 ]
	[ "$took" -ge 3000 ]
	[ "$took" -lt 15000 ]
	[[ "$stderr" == *"trying again"* ]] || false
}

@test "-i on a silent session with stdin open: an early end, status 1 on both ends, one line" {
	listen_bg 127.0.0.1 0
	hold_open "$BATS_TEST_TMPDIR/in"	# stdin open and silent for 60 s
	run --separate-stderr timeout 60 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 1 ]
	[ "$stderr" = "ztpipe: no data for 1 s: stdin not at its end; connection reset" ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
}

@test "-i 0.3 ends a silent session after 0.3 s, not a whole second" {
	local t0 took
	listen_bg 127.0.0.1 0
	hold_open "$BATS_TEST_TMPDIR/in"	# stdin open and silent for 60 s
	t0=$(now_ms)
	run --separate-stderr timeout 60 "$ZTPIPE" -i 0.3 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	took=$(($(now_ms) - t0))
	echo "took $took ms: $stderr"
	[ "$status" -eq 1 ]	# stdin still open: an early end, as with -i 1
	[ "$stderr" = "ztpipe: no data for 300 ms: stdin not at its end; connection reset" ]
	[ "$took" -ge 300 ]
	[ "$took" -lt 10000 ]	# a bound for a hang only
}

@test "-R 700ms keeps trying for 0.7 s, no less" {
	local port t0 took
	port=$(free_port)
	t0=$(now_ms)
	run --separate-stderr timeout 20 "$ZTPIPE" -R 700ms 127.0.0.1 "$port" </dev/null
	took=$(($(now_ms) - t0))
	echo "took $took ms"
	[ "$status" -eq 1 ]
	[ "$took" -ge 700 ]
	[ "$took" -lt 10000 ]	# a bound for a hang only
	[ "$stderr" = "ztpipe: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "-i does not end a session while data flows" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	# a line every 0.25 s for 3 s, against -i 2
	run timeout 20 "$ZTPIPE" -i 2 127.0.0.1 "$PORT" \
	    < <(for ((i = 1; i <= 12; i++)); do echo "tick $i"; sleep 0.25; done)
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$(wc -l <"$BATS_TEST_TMPDIR/got")" -eq 12 ]
}

@test "-i with everything read sent but stdin still open: the stream was not finished, both ends exit 1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	mkfifo "$BATS_TEST_TMPDIR/in"
	start_bg bash -c 'exec >"$2"; cat "$1"; exec sleep 60' _ "$f" "$BATS_TEST_TMPDIR/in"
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	run --separate-stderr timeout 60 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in"
	# A pipe short of its end is an unfinished stream: the receiver
	# must not take what it has for the whole.
	[ "$status" -eq 1 ]
	[ "$stderr" = "ztpipe: no data for 1 s: stdin not at its end; connection reset" ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "-i with stdin a device, idle after its bytes: not at its end, so status 1 on both ends" {
	# An eventfd gives its 8 bytes, then nothing (as /dev/kmsg does):
	# a device short of its end is an unfinished stream.
	"$PYTHON" -c 'import os; os.eventfd' 2>/dev/null || skip "no os.eventfd"
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	run --separate-stderr timeout 60 "$PYTHON" -c '
import os, sys
fd = os.eventfd(1)
os.dup2(fd, 0)
os.execv(sys.argv[1], sys.argv[1:])' "$ZTPIPE" -i 1 -v 127.0.0.1 "$PORT"
	echo "sender: status $status: $stderr"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no data for 1 s: stdin not at its end; connection reset"* ]] || false
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/got")" -eq 8 ]
}

@test "-i on a receiver before the peer has finished: status 1, one line, the sender sees a reset; over UDP, which has no end, status 0" {
	# The sender (the listener) says a line, then its stdin stays open
	# and quiet: its stream has not ended.
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	echo part >&5
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg 127.0.0.1 0
	run --separate-stderr timeout 20 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" \
	    </dev/null
	echo "receiver: status $status: $stderr"
	[ "$status" -eq 1 ]
	[ "$stderr" = "ztpipe: no data for 1 s: the peer had not finished; connection reset" ]
	[ "$output" = part ]
	# The sender learns of it when it next has something to send.
	echo more >&5
	wait_exit "$LISTEN_PID" 10
	echo "sender: status $EXIT_STATUS: $(cat "$LISTEN_ERR")"
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eq "127.0.0.1 port [0-9]+: (Connection reset by peer|Broken pipe)$" \
	    "$LISTEN_ERR"
	# UDP: no end to wait for, so -i is how a receiver ends: status 0
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -u -i 1 127.0.0.1 0
	mkfifo "$BATS_TEST_TMPDIR/in.u"
	exec 6<>"$BATS_TEST_TMPDIR/in.u"
	echo part >&6
	start_bg timeout 20 "$ZTPIPE" -u 127.0.0.1 "$PORT" \
	    <"$BATS_TEST_TMPDIR/in.u" 6>&-
	wait_exit "$LISTEN_PID" 10
	cat "$LISTEN_ERR"
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = part ]
	grep -q 'no data for 1 s' "$LISTEN_ERR"
}

# bats test_tags=unix
@test "-i on a sender whose receiver is stopped: both exit 1, the sender says why in one line" {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got lpid n
	random_file "$f" 20000000
	LISTEN_OUT=$got listen_bg 127.0.0.1 0
	lpid=$(ztpipe_pid "$LISTEN_PID")
	kill -STOP "$lpid"
	run --separate-stderr timeout 60 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" <"$f"
	kill -CONT "$lpid"
	echo "sender: status $status: $stderr"
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "ztpipe: "* ]] || false
	receiver_failed_with_prefix "$got" "$f"
}

@test "-i on a listener whose receiver's stdout stalls: both exit 1" {
	local got=$BATS_TEST_TMPDIR/got client n
	# endless: more than every buffer on the way can hold
	LISTEN_IN=/dev/zero LISTEN_OUT=/dev/null listen_bg -i 1 127.0.0.1 0
	mkfifo "$BATS_TEST_TMPDIR/out"
	exec 6<>"$BATS_TEST_TMPDIR/out"		# held, not read yet
	start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/client.err" 6>&-
	client=$BG_PID
	wait_exit "$LISTEN_PID" 30
	echo "sender: status $EXIT_STATUS: $(cat "$LISTEN_ERR")"
	[ "$EXIT_STATUS" -eq 1 ]
	grep -q 'no data for 1 s' "$LISTEN_ERR"
	# Its stdout drains now: what it got is a prefix, and it fails.
	cat "$BATS_TEST_TMPDIR/out" >"$got" 3>&- &
	BG_PIDS+=("$!")
	exec 6>&-
	wait_exit "$client" 20
	echo "receiver: status $EXIT_STATUS: $(cat "$BATS_TEST_TMPDIR/client.err")"
	[ "$EXIT_STATUS" -eq 1 ]
	n=$(stat -c %s "$got")
	cmp -n "$n" /dev/zero "$got"
}

@test "--progress=always draws sizes, rates, percentage and a final line" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 5000000
	listen_bg 127.0.0.1 0
	timeout 10 "$ZTPIPE" --progress=always 127.0.0.1 "$PORT" <"$f" \
	    2>"$BATS_TEST_TMPDIR/progress"
	wait_exit "$LISTEN_PID" 10
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
	local last
	last=$(tr '\r' '\n' <"$BATS_TEST_TMPDIR/progress" | grep . | tail -n 1)
	echo "$last"
	[[ "$last" =~ ^sent\ 4\.8\ MiB\ \([0-9.]+\ [KMG]?i?B/s\)\ 100%\ ETA\ 0:00,\ received\ 0\ B ]] || false
	# the display ends with a newline, and never touched stdout
	[ "$(tail -c 1 "$BATS_TEST_TMPDIR/progress" | od -An -c | tr -d ' ')" = '\n' ]
}

@test "-P alone draws nothing when stderr is not a terminal" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 10 "$ZTPIPE" -P 127.0.0.1 "$PORT" < <(echo hi)
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "a bad --progress value is a usage error" {
	run --separate-stderr "$ZTPIPE" --progress=sometimes 127.0.0.1
	[ "$status" -eq 2 ]
}

@test "-P costs nothing on stdout: the data stays byte for byte" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 10 "$ZTPIPE" --progress=always 127.0.0.1 "$PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/got" 2>/dev/null
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}

@test "-i does not end a session whose stdout reader is slow" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 20000000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	timeout 20 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" </dev/null |
	    (sleep 2.5; cat >"$BATS_TEST_TMPDIR/got")
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
}
