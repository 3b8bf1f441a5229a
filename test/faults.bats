#!/usr/bin/env bats
# Faults: peers that die or go silent, odd stdin and stdout, signals,
# many short connections.  Each ends with the right status, in time,
# without spinning or leaking.

load helper

teardown() {
	stop_bg
	if [ -n "${NS_A:-}" ]; then
		ip netns del "$NS_A" 2>/dev/null || true
		ip netns del "$NS_B" 2>/dev/null || true
	fi
}

# cpu_ticks PID: user + system CPU time PID has used, in clock ticks.
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat")
	set -- ${stat##*) }	# from field 3, state; utime and stime follow
	echo $((${12} + ${13}))
}

# fd_count PID: how many descriptors PID has open.
fd_count() {
	local fds=("/proc/$1/fd/"*)
	echo "${#fds[@]}"
}

# slow_writer FILE FIFO CHUNK MS [AFTER GO]: copy FILE into a new FIFO,
# CHUNK bytes every MS ms, in the background: a slow pipe.  With AFTER and
# GO it stops after AFTER bytes until the file GO exists, so a test can act
# while the transfer is surely unfinished, however fast the machine is.
slow_writer() {
	mkfifo "$2"
	start_bg timeout 120 "$PYTHON" -c '
import os, sys, time
src, dst, chunk, ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
after = int(sys.argv[5]) if len(sys.argv) > 5 else -1
go = sys.argv[6] if len(sys.argv) > 6 else None
done = 0
try:
    with open(src, "rb") as f, open(dst, "wb") as out:
        while (b := f.read(chunk)):
            if done == after:
                out.flush()
                while not os.path.exists(go):
                    time.sleep(0.01)
            out.write(b)
            out.flush()
            done += len(b)
            time.sleep(ms / 1000)
except BrokenPipeError:
    pass' "$@"
}

# bats test_tags=unix
@test "the receiver SIGKILLed 1 MB into 50 MB: the sender names it and exits 1, no hang" {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got client n peer
	random_file "$f" 50000000
	# 32 KiB a millisecond at most, pausing after 2 MB until the kill:
	# the kill lands while the transfer is unfinished.
	slow_writer "$f" "$BATS_TEST_TMPDIR/fifo" 32768 1 2097152 "$BATS_TEST_TMPDIR/go"
	LISTEN_IN=$BATS_TEST_TMPDIR/fifo LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null >"$got"
	client=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	wait_for_size "$got" 1000000
	kill -KILL "$(ztpipe_pid "$client")"
	touch "$BATS_TEST_TMPDIR/go"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
	peer=$(sed -n 's/.*connection from \(.* port [0-9]*\)$/\1/p' "$LISTEN_ERR")
	grep -Eq "^ztpipe: $peer: (Connection reset by peer|Broken pipe)$" "$LISTEN_ERR"
	# What arrived before the kill is a true prefix.
	n=$(stat -c %s "$got")
	[ "$n" -ge 1000000 ] && [ "$n" -lt 50000000 ]
	cmp -n "$n" "$f" "$got"
}

# netns_pair: two new network namespaces joined by a veth pair,
# 10.200.0.1 in NS_A and 10.200.0.2 in NS_B; teardown deletes both.
netns_pair() {
	NS_A=zt-a-$BASHPID NS_B=zt-b-$BASHPID
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add zta netns "$NS_A" type veth peer name ztb netns "$NS_B"
	ip -n "$NS_A" addr add 10.200.0.1/24 dev zta
	ip -n "$NS_B" addr add 10.200.0.2/24 dev ztb
	ip -n "$NS_A" link set zta up
	ip -n "$NS_B" link set ztb up
}

# bats test_tags=unix
@test "a peer whose link goes down: nobody spins, and -w 1 gives up on it with status 1" {
	[ "$(id -u)" = 0 ] || skip "network namespaces need root"
	local aerr=$BATS_TEST_TMPDIR/a.err port client a b a0 b0 max
	netns_pair
	start_bg ip netns exec "$NS_A" timeout 30 "$ZTPIPE" -l -v 10.200.0.1 0 \
	    </dev/null >/dev/null 2>"$aerr"
	a=$(ztpipe_pid "$BG_PID")
	wait_for_file "$aerr" 'listening on'
	port=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$aerr")
	start_bg ip netns exec "$NS_B" timeout 30 "$ZTPIPE" 10.200.0.1 "$port" \
	    </dev/zero >/dev/null 2>/dev/null
	client=$BG_PID
	b=$(ztpipe_pid "$client")
	wait_for_file "$aerr" 'connection from'
	ip -n "$NS_A" link set zta down
	# Both now wait on a socket that will not move: 0.3 s of CPU in 3 s
	# is generous for that, and far below a busy loop.
	a0=$(cpu_ticks "$a") b0=$(cpu_ticks "$b")
	sleep 3
	max=$(($(getconf CLK_TCK) * 3 / 10))
	echo "CPU ticks in 3 s: listener $(($(cpu_ticks "$a") - a0)), client $(($(cpu_ticks "$b") - b0)), limit $max"
	[ $(($(cpu_ticks "$a") - a0)) -lt "$max" ]
	[ $(($(cpu_ticks "$b") - b0)) -lt "$max" ]
	kill -0 "$b"	# TCP still retrying, not given up
	SECONDS=0
	run --separate-stderr ip netns exec "$NS_B" \
	    timeout 60 "$ZTPIPE" -w 1 10.200.0.1 "$port" </dev/null
	[ "$status" -eq 1 ]
	# -w 1, not TCP's own minutes of retrying (a bound for a hang only).
	[ "$SECONDS" -le 20 ]
	[[ "$stderr" == "ztpipe: connect to 10.200.0.1 port $port: "* ]] || false
}

# bats test_tags=unix
@test "stdout a pipe whose reader left while nothing arrives: nothing lost, so silent, status 0, within seconds" {
	# -d on both sides: the connection stays up and quiet, so only the
	# reader's leaving can end it: a miss is timeout's 124.  No byte was
	# left untaken, and none came in the 2 s it waits to see whether the
	# peer's next word is a byte (a loss) or its end: a clean end.
	listen_bg -d 127.0.0.1 0
	run bash -c "timeout 20 '$ZTPIPE' -d 127.0.0.1 $PORT </dev/null \
	    2>'$BATS_TEST_TMPDIR/err' | true; echo \${PIPESTATUS[0]}"
	[ "$output" = 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/err" ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
}

@test "stdout closed (>&-): a message and status 1; nothing leaks into the socket" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 100000
	LISTEN_IN=$f listen_bg 127.0.0.1 0
	run --separate-stderr bash -c \
	    "exec timeout 10 '$ZTPIPE' 127.0.0.1 $PORT </dev/null >&-"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: write to stdout: "* ]] || false
	wait_exit "$LISTEN_PID" 10
	[ ! -s "$BATS_TEST_TMPDIR/listen.out" ]
}

# bats test_tags=unix
@test "stdin closed (<&-) or /dev/null: the peer gets EOF at once, status 0" {
	local how
	for how in '<&-' '</dev/null'; do
		listen_bg 127.0.0.1 0
		run bash -c "exec timeout 5 '$ZTPIPE' 127.0.0.1 $PORT $how"
		[ "$status" -eq 0 ]
		wait_exit "$LISTEN_PID" 10
		[ "$EXIT_STATUS" -eq 0 ]
		[ ! -s "$BATS_TEST_TMPDIR/listen.out" ]
	done
}

@test "a -d listener leaves a stdin it shares alone: the pipe's other reader counts every byte" {
	local port pidf=$BATS_TEST_TMPDIR/pid
	port=$(free_port)
	# Most of the pipe's bytes come once ztpipe listens: by then it has
	# set up its stdin, whatever it does to it.
	run --separate-stderr bash -c '
port=$1 z=$2 pidf=$3
{ head -c 1000000 /dev/zero
  for ((i = 0; i < 200; i++)); do
    ss -Hltn "sport = :$port" | grep -q . && break
    sleep 0.05
  done
  head -c 2000000 /dev/zero; } |
{ timeout 10 "$z" -ld 127.0.0.1 "$port" <&0 >/dev/null 2>"$pidf.err" 3>&- &
  echo $! >"$pidf"; wc -c; }' _ "$port" "$ZTPIPE" "$pidf"
	echo "wc: status $status: $output $stderr"
	cat "$pidf.err"
	# ztpipe is still there, listening: stop it now
	kill -0 "$(cat "$pidf")"
	kill "$(cat "$pidf")"
	[ "$status" -eq 0 ]
	[ "$output" -eq 3000000 ]
	[ -z "$stderr" ]
}

@test "a listener's stdout shared with another writer: that writer's 3 MB all reach a slow reader" {
	local port d=$BATS_TEST_TMPDIR
	port=$(free_port)
	mkfifo "$d/in"	# the client's stdin, open until the writer is done
	run --separate-stderr bash -c '
port=$1 z=$2 d=$3
seen() {	# seen TEXT: the listener has said it (10 s)
  for ((i = 0; i < 200; i++)); do
    grep -q "$1" "$d/listen.err" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
{ timeout 30 "$z" -l -v 127.0.0.1 "$port" </dev/null 2>"$d/listen.err" 3>&- &
  l=$!
  seen "listening on"
  exec 5<>"$d/in"
  timeout 30 "$z" 127.0.0.1 "$port" <"$d/in" >/dev/null 2>"$d/client.err" \
      3>&- 5>&- &
  c=$!
  # the listener has accepted: its loop runs while the writer writes
  seen "connection from"
  head -c 3000000 /dev/zero
  echo "writer $?" >"$d/writer"
  exec 5>&-
  wait "$c"; echo "client $?" >"$d/client"
  wait "$l"; echo "listener $?" >"$d/listener"
} | "$4" -c "
import sys, time
n = 0
while True:
    b = sys.stdin.buffer.raw.read(4096)
    if not b:
        break
    n += len(b)
    time.sleep(0.0005)
print(n)"' _ "$port" "$ZTPIPE" "$d" "$PYTHON"
	echo "reader: status $status: $output $stderr"
	cat "$d/writer" "$d/client" "$d/listener" "$d/listen.err" "$d/client.err"
	[ "$status" -eq 0 ]
	[ "$output" -eq 3000000 ]
	[ -z "$stderr" ]
	[ "$(cat "$d/writer")" = "writer 0" ]
	[ "$(cat "$d/client")" = "client 0" ]
	[ "$(cat "$d/listener")" = "listener 0" ]
}

# listen_plain ARGS...: "ztpipe -l -v ARGS" in the background with the
# caller's own redirections of stdin (start_bg keeps them); stdout in
# listen.out; sets LISTEN_PID and PORT once it listens.
listen_plain() {
	LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
	start_bg timeout 30 "$ZTPIPE" -l -v "$@" \
	    >"${LISTEN_OUT:-$BATS_TEST_TMPDIR/listen.out}" 2>"$LISTEN_ERR"
	LISTEN_PID=$BG_PID
	wait_for_file "$LISTEN_ERR" 'listening on'
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR")
}

@test "stdin open write-only (0>/dev/null) counts as closed: a file still arrives whole, status 0" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 3000000
	# as a listener
	listen_plain 127.0.0.1 0 0>/dev/null
	run --separate-stderr timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f"
	wait_exit "$LISTEN_PID" 10
	cat "$LISTEN_ERR"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
	run ! grep -q 'read from stdin' "$LISTEN_ERR"
	# as a dialler
	LISTEN_IN=$f LISTEN_OUT=$BATS_TEST_TMPDIR/rest listen_bg 127.0.0.1 0
	run --separate-stderr bash -c 'exec timeout 10 "$0" 127.0.0.1 "$1" \
	    0>/dev/null >"$2"' "$ZTPIPE" "$PORT" "$BATS_TEST_TMPDIR/got"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/rest" ]
}

@test "a -lk collector started with stdin open for appending (0>>file) keeps collecting" {
	local c stdin=$BATS_TEST_TMPDIR/stdin.file out=$BATS_TEST_TMPDIR/all.log
	: >"$stdin"
	LISTEN_OUT=$out listen_plain -k 127.0.0.1 0 0>>"$stdin"
	for c in 1 2 3; do
		run --separate-stderr timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" \
		    <<<"line from client $c"
		[ "$status" -eq 0 ] || { echo "$stderr"; cat "$LISTEN_ERR"; false; }
	done
	wait_for_size "$out" 3 -l
	kill -0 "$LISTEN_PID"
	cat "$LISTEN_ERR"
	[ "$(sort "$out")" = $'line from client 1\nline from client 2\nline from client 3' ]
	[ ! -s "$stdin" ]
	run ! grep -q 'read from stdin' "$LISTEN_ERR"
}

# bats test_tags=unix
@test "stdin a directory: 'read from stdin: Is a directory', status 1" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "ztpipe: read from stdin: Is a directory" ]
}

@test "stdin a FIFO with a slow writer: every byte arrives, in order" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 1000000
	slow_writer "$f" "$BATS_TEST_TMPDIR/fifo" 4093 1
	listen_bg 127.0.0.1 0
	run timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$BATS_TEST_TMPDIR/fifo"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
}

# bats test_tags=unix
@test "a 2 GiB sparse file as stdin: every byte counted, sender under 8 MiB" {
	local f=$BATS_TEST_TMPDIR/sparse err=$BATS_TEST_TMPDIR/err rss
	truncate -s 2G "$f"
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	peak_rss "$BATS_TEST_TMPDIR/rss" timeout 60 "$ZTPIPE" -v 127.0.0.1 "$PORT" \
	    <"$f" 2>"$err"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	grep -q '^ztpipe: sent 2147483648 bytes, received 0 bytes in ' "$err"
	grep -q 'sent 0 bytes, received 2147483648 bytes in ' "$LISTEN_ERR"
	rss=$(cat "$BATS_TEST_TMPDIR/rss")
	echo "sender peak RSS $rss KiB"
	[[ $ZTPIPE == *-san ]] || [ "$rss" -lt 8192 ]
}

# signal_mid_transfer SIG: a client sending /dev/zero gets SIG.
signal_mid_transfer() {
	local err=$BATS_TEST_TMPDIR/err client
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	start_bg timeout 20 "$ZTPIPE" -v 127.0.0.1 "$PORT" </dev/zero >/dev/null 2>"$err"
	client=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -"$1" "$(ztpipe_pid "$client")"
	# It tries to flush for 2 s; more is a hang (a bound, not a race).
	wait_exit "$client" 10
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eq '^ztpipe: sent [1-9][0-9]* bytes, received 0 bytes in [0-9.]+ s$' "$err"
}

# bats test_tags=unix
@test "SIGINT mid-transfer: it ends by itself, status 1, the -v summary still printed" {
	signal_mid_transfer INT
}

# bats test_tags=unix
@test "SIGTERM mid-transfer: it ends by itself, status 1, the -v summary still printed" {
	signal_mid_transfer TERM
}

# bats test_tags=unix
@test "SIGTERM to a sender with over 2 GiB of a file left: reset, the receiver exits 1" {
	local f=$BATS_TEST_TMPDIR/big err=$BATS_TEST_TMPDIR/err client
	# Sparse, no disk used.  FIONREAD's int wraps with 2-4 GiB left, so
	# a signal that found the ring empty sent a clean FIN: the receiver
	# took the cut file for a whole one and exited 0.
	truncate -s 3G "$f"
	LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	start_bg timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f" >/dev/null 2>"$err"
	client=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -TERM "$(ztpipe_pid "$client")"
	wait_exit "$client" 10
	[ "$EXIT_STATUS" -eq 1 ]
	grep -qx 'ztpipe: signal 15: data unsent; connection reset' "$err"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
}

# send_q_full PORT: until a connection on local port PORT (the listener's
# side) has bytes waiting in its send queue: its peer has stopped taking.
send_q_full() {
	local i
	for ((i = 0; i < 200; i++)); do
		ss -Htn "sport = :$1" |
		    awk '$3 > 0 { found = 1 } END { exit !found }' && return 0
		sleep 0.05
	done
	echo "no send queue on port $1" >&2
	return 1
}

# interrupted_sender SIG: SIG reaches a sender with data unsent; both
# ends exit 1, and the receiver has a true prefix.
interrupted_sender() {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got lpid sender n
	random_file "$f" 20000000
	# The receiver is stopped before the sender connects, so the sender
	# surely holds unsent data when SIGINT comes, at any speed.
	LISTEN_OUT=$got listen_bg 127.0.0.1 0
	lpid=$(ztpipe_pid "$LISTEN_PID")
	kill -STOP "$lpid"
	start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" <"$f" >/dev/null \
	    2>"$BATS_TEST_TMPDIR/err"
	sender=$BG_PID
	for ((n = 0; n < 200; n++)); do
		ss -Htn "dport = :$PORT" | grep -q . && break
		sleep 0.05
	done
	kill -"$1" "$(ztpipe_pid "$sender")"
	wait_exit "$sender" 10
	echo "sender: status $EXIT_STATUS: $(cat "$BATS_TEST_TMPDIR/err")"
	[ "$EXIT_STATUS" -eq 1 ]
	grep -q "^ztpipe: signal [0-9]*: data unsent; connection reset$" \
	    "$BATS_TEST_TMPDIR/err"
	kill -CONT "$lpid"
	receiver_failed_with_prefix "$got" "$f"
}

# bats test_tags=unix
@test "SIGINT on a sender with data unsent: the receiver exits 1, not 0 with a prefix" {
	interrupted_sender INT
}

# bats test_tags=unix
@test "a hangup (a closed terminal, a dropped ssh) on a sender: both ends exit 1" {
	interrupted_sender HUP
}

# bats test_tags=unix
@test "SIGQUIT, SIGUSR1 or SIGALRM on a sender: both ends exit 1, never a clean end" {
	local sig
	for sig in QUIT USR1 ALRM; do
		interrupted_sender "$sig"
	done
}

@test "a sender whose stdin pipe is open but quiet, stopped by SIGTERM or -i: a reset, both ends exit 1" {
	local f=$BATS_TEST_TMPDIR/payload got=$BATS_TEST_TMPDIR/got in err how sender
	random_file "$f" 1000000
	for how in TERM idle; do
		in=$BATS_TEST_TMPDIR/in.$how err=$BATS_TEST_TMPDIR/err.$how
		mkfifo "$in"
		# the whole file, then a pipe that stays open and says nothing
		# (tar waiting on a disk): the stream has not ended
		start_bg bash -c 'exec >"$2"; cat "$1"; exec sleep 30' _ "$f" "$in"
		LISTEN_OUT=$got listen_bg 127.0.0.1 0
		if [ "$how" = TERM ]; then
			start_bg timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$in" 2>"$err"
			sender=$BG_PID
			wait_for_size "$got" 1000000
			kill -TERM "$(ztpipe_pid "$sender")"
		else
			start_bg timeout 20 "$ZTPIPE" -i 1 127.0.0.1 "$PORT" <"$in" 2>"$err"
			sender=$BG_PID
		fi
		wait_exit "$sender" 10
		echo "$how: sender: status $EXIT_STATUS: $(cat "$err")"
		[ "$EXIT_STATUS" -eq 1 ]
		# every byte came, yet the receiver must not take it for the end
		wait_exit "$LISTEN_PID" 10
		echo "$how: receiver: status $EXIT_STATUS: $(grep -v 'listening on\|connection from' "$LISTEN_ERR")"
		[ "$EXIT_STATUS" -eq 1 ]
		[ "$(sha "$got")" = "$(sha "$f")" ]
		grep -q "127.0.0.1 port [0-9]*: Connection reset by peer$" "$LISTEN_ERR"
		[ "$(cat "$err")" = "ztpipe: $([ "$how" = TERM ] && echo "signal $TERM_NO" ||
		    echo 'no data for 1 s'): stdin not at its end; connection reset" ]
		stop_bg
	done
}

# Windows sees a pipe's reader leave only when it writes to it.
# bats test_tags=unix
@test "as an ssh ProxyCommand: pipes closed then a hangup at once, after a whole exchange: status 0, nothing said, 10 times" {
	# ssh's way: it has read the reply, sent its last bytes, closes
	# both pipes and sends SIGHUP at once.  The server replies to a
	# line and closes after our EOF, and must see that EOF, not a reset.
	run timeout 120 "$PYTHON" -c '
import signal, socket, subprocess, sys, threading
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
ends = []
def serve():
    while True:
        c, _ = srv.accept()
        line = b""
        while not line.endswith(b"\n"):
            b = c.recv(1)
            if not b:
                break
            line += b
        c.sendall(b"reply to " + line)
        try:
            while c.recv(65536):
                pass
            ends.append("EOF")
        except ConnectionResetError:
            ends.append("reset")
        c.close()
threading.Thread(target=serve, daemon=True).start()
bad = 0
for i in range(10):
    p = subprocess.Popen([sys.argv[1], "127.0.0.1", str(srv.getsockname()[1])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(b"hello %d\n" % i)
    p.stdin.flush()
    reply = p.stdout.readline()
    p.stdin.close()
    p.stdout.close()
    p.send_signal(signal.SIGHUP)
    err = p.stderr.read()
    rc = p.wait(10)
    while len(ends) <= i:	# the server has seen our end
        threading.Event().wait(0.01)
    print("run %d: status %d, server saw %s, reply %r, stderr %r"
          % (i, rc, ends[i], reply, err))
    bad += rc != 0 or err != b"" or ends[i] != "EOF" or \
        reply != b"reply to hello %d\n" % i
sys.exit(bad)' "$ZTPIPE"
	echo "$output"
	[ "$status" -eq 0 ]
}

# bats test_tags=unix
@test "under nohup a hangup does not end a transfer: the file arrives whole" {
	local f=$BATS_TEST_TMPDIR/payload in=$BATS_TEST_TMPDIR/in sender
	random_file "$f" 3000000
	mkfifo "$in"
	exec 5<>"$in"
	listen_bg 127.0.0.1 0
	# nohup(1) sets SIGHUP to be ignored; ztpipe keeps it so.
	start_bg timeout 30 nohup "$ZTPIPE" 127.0.0.1 "$PORT" <"$in" \
	    >/dev/null 2>&1
	sender=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -HUP "$(ztpipe_pid "$sender")"
	cat "$f" >&5
	exec 5>&-
	wait_exit "$sender" 10
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
}

# bats test_tags=unix
@test "a receiver stopped by a signal says so in one line, status 1" {
	listen_bg 127.0.0.1 0
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
	grep -qx "ztpipe: signal 15, stopping" "$LISTEN_ERR"
}

# bats test_tags=unix
@test "SIGTERM on a listening sender with data unsent: the dialler exits 1" {
	local got=$BATS_TEST_TMPDIR/got client n
	# endless stdin, and a receiver whose stdout nobody reads yet
	LISTEN_IN=/dev/zero LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
	mkfifo "$BATS_TEST_TMPDIR/out"
	exec 6<>"$BATS_TEST_TMPDIR/out"
	start_bg timeout 60 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 6>&-
	client=$BG_PID
	send_q_full "$PORT"
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	echo "sender: status $EXIT_STATUS"
	[ "$EXIT_STATUS" -eq 1 ]
	cat "$BATS_TEST_TMPDIR/out" >"$got" 3>&- &
	BG_PIDS+=("$!")
	exec 6>&-
	wait_exit "$client" 20
	echo "receiver: status $EXIT_STATUS: $(cat "$BATS_TEST_TMPDIR/err")"
	[ "$EXIT_STATUS" -eq 1 ]
	n=$(stat -c %s "$got")
	cmp -n "$n" /dev/zero "$got"
}

# bats test_tags=unix
@test "SIGINT and SIGTERM together mid-transfer: status 1 every time" {
	local i client err=$BATS_TEST_TMPDIR/err pid
	for ((i = 0; i < 5; i++)); do
		LISTEN_OUT=/dev/null listen_bg 127.0.0.1 0
		start_bg timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/zero \
		    >/dev/null 2>"$err"
		client=$BG_PID
		wait_for_file "$LISTEN_ERR" 'connection from'
		pid=$(ztpipe_pid "$client")
		# the second may find it gone already: that is an end too
		kill -INT "$pid"; kill -TERM "$pid" 2>/dev/null || true
		wait_exit "$client" 10
		echo "round $i: status $EXIT_STATUS"
		[ "$EXIT_STATUS" -eq 1 ]
		wait_exit "$LISTEN_PID" 10
	done
}

# bats test_tags=unix
@test "SIGTERM to a -k listener mid-transfer: the client still sending is reset, both exit 1, one line says so" {
	local client
	LISTEN_OUT=/dev/null listen_bg -k 127.0.0.1 0
	start_bg timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/zero >/dev/null 2>/dev/null
	client=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 1 ]
	grep -Eqx 'ztpipe: signal 15: .+; connection reset' "$LISTEN_ERR"
	grep -Eq '^ztpipe: sent 0 bytes, received [1-9][0-9]* bytes in [0-9.]+ s$' "$LISTEN_ERR"
	wait_exit "$client" 10
	[ "$EXIT_STATUS" -eq 1 ]
}

# bats test_tags=unix
@test "a client that connects and says nothing: the listener waits without spinning" {
	local pid t0
	hold_open "$BATS_TEST_TMPDIR/in"	# a stdin that stays open and quiet
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg 127.0.0.1 0
	start_bg timeout 60 "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(60)' "$PORT"
	wait_for_file "$LISTEN_ERR" 'connection from'
	pid=$(ztpipe_pid "$LISTEN_PID")
	t0=$(cpu_ticks "$pid")
	sleep 2
	echo "CPU ticks in 2 s: $(($(cpu_ticks "$pid") - t0))"
	[ $(($(cpu_ticks "$pid") - t0)) -le 2 ]
	kill -0 "$pid"	# still waiting for it
}

# wine takes a third of a second to start a program: 1,000 outlast 180 s.
# bats test_tags=unix
@test "1,000 connections in a row, ztpipe -l restarted on the same port each time" {
	local port
	port=$(free_port)
	timeout 180 "$PYTHON" - "$ZTPIPE" "$port" 1000 <<'PY'
import hashlib, os, socket, subprocess, sys
zt, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    payload = os.urandom(1 + i * 997 % 20000)
    ls = subprocess.Popen(["timeout", "10", zt, "-l", "-v", "127.0.0.1", str(port)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    first = ls.stderr.readline()
    if b"listening on" not in first:
        sys.exit("round %d: %r" % (i, first + ls.stderr.read()))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
    out, err = ls.communicate(timeout=10)
    if ls.returncode != 0:
        sys.exit("round %d: status %d: %r" % (i, ls.returncode, err))
    if hashlib.sha256(out).digest() != hashlib.sha256(payload).digest():
        sys.exit("round %d: %d bytes out of %d differ" % (i, len(out), len(payload)))
PY
}

# bats test_tags=unix
@test "a -k listener has as many fds open after 1,000 short connections as before" {
	local out=$BATS_TEST_TMPDIR/all.log pid before i
	LISTEN_OUT=$out listen_bg -k 127.0.0.1 0
	pid=$(ztpipe_pid "$LISTEN_PID")
	before=$(fd_count "$pid")
	timeout 90 "$PYTHON" -c '
import socket, sys
for i in range(1000):
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as c:
        c.sendall(b"hello %d\n" % i)' "$PORT"
	# Let it settle: every line out and every peer closed (20 s at most).
	for ((i = 0; i < 400; i++)); do
		[ "$(wc -l <"$out")" -eq 1000 ] && [ "$(fd_count "$pid")" -eq "$before" ] &&
		    break
		sleep 0.05
	done
	echo "fds: $before before, $(fd_count "$pid") after; $(wc -l <"$out") lines"
	[ "$(wc -l <"$out")" -eq 1000 ]
	[ "$(fd_count "$pid")" -eq "$before" ]
}

# signal_storm MODE ROUNDS: 20 MB go through while both ends get ROUNDS
# rounds of signals: SIGWINCH then 1 ms of quiet (MODE winch), or SIGSTOP
# then SIGCONT 5 ms later, then 20 ms of quiet (MODE stop, like ^Z and fg).
# The script that signals also feeds the sender's stdin, a slice of the
# file after each round, and closes it only after the last round: every
# round lands mid-transfer however fast or slow the machine is.
signal_storm() {
	local f=$BATS_TEST_TMPDIR/payload fifo=$BATS_TEST_TMPDIR/fifo
	local pids=$BATS_TEST_TMPDIR/pids count=$BATS_TEST_TMPDIR/rounds client storm
	random_file "$f" 20000000
	mkfifo "$fifo"
	start_bg timeout 120 "$PYTHON" -c '
import os, signal, sys, time
mode, rounds, src, dst, pidfile, out = sys.argv[1:]
rounds = int(rounds)
data = open(src, "rb").read()
step = -(-len(data) // rounds)
fd = os.open(dst, os.O_WRONLY)		# waits for the sender to open it
end = time.time() + 30
while not os.path.exists(pidfile):
    if time.time() > end:
        sys.exit("no pids in " + pidfile)
    time.sleep(0.01)
pids = [int(p) for p in open(pidfile).read().split()]
def send(sig):
    for pid in pids:
        os.kill(pid, sig)	# both must still be running
def write(b):
    view = memoryview(b)
    while view:
        view = view[os.write(fd, view):]
n = 0
try:
    for n in range(1, rounds + 1):
        if mode == "stop":
            send(signal.SIGSTOP)
            time.sleep(0.005)
            send(signal.SIGCONT)
            time.sleep(0.02)
        else:
            send(signal.SIGWINCH)
            time.sleep(0.001)
        write(data[(n - 1) * step:n * step])
finally:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    open(out, "w").write("%d\n" % n)
os.close(fd)' "$1" "$2" "$f" "$fifo" "$pids" "$count"
	storm=$BG_PID
	listen_bg 127.0.0.1 0
	start_bg timeout 120 "$ZTPIPE" 127.0.0.1 "$PORT" <"$fifo"
	client=$BG_PID
	wait_for_file "$LISTEN_ERR" 'connection from'
	echo "$(ztpipe_pid "$LISTEN_PID") $(ztpipe_pid "$client")" >"$pids.new"
	mv "$pids.new" "$pids"
	wait_exit "$storm" 120
	[ "$EXIT_STATUS" -eq 0 ]
	echo "$(cat "$count") rounds of signals"
	[ "$(cat "$count")" -eq "$2" ]
	wait_exit "$client" 30
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$LISTEN_PID" 30
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
}

# bats test_tags=unix
@test "a thousand SIGWINCHes at both ends mid-transfer: 20 MB arrive sha256-exact" {
	signal_storm winch 1000
}

# bats test_tags=unix
@test "stopped and continued 40 times at both ends mid-transfer: 20 MB arrive sha256-exact" {
	signal_storm stop 40
}

@test "an urgent (MSG_OOB) byte from the peer loses nothing and does not spin" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got.fifo
	mkfifo "$BATS_TEST_TMPDIR/got.fifo"
	cat "$BATS_TEST_TMPDIR/got.fifo" >"$BATS_TEST_TMPDIR/got" 3>&- &
	BG_PIDS+=("$!")
	local cat_pid=$!
	listen_bg 127.0.0.1 0	# stdout is a pipe: the splice path
	run timeout 10 "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"before\n"); time.sleep(0.3)
s.send(b"!", socket.MSG_OOB)
s.sendall(b"after\n")
time.sleep(2)
s.close()' "$PORT"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	wait_exit "$cat_pid" 10
	# every byte, the urgent one in its place (SO_OOBINLINE)
	[ "$(od -An -c "$BATS_TEST_TMPDIR/got")" = "$(printf 'before\n!after\n' | od -An -c)" ]
}

@test "an urgent (MSG_OOB) byte arrives in its place with stdout a file (the copy path)" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg 127.0.0.1 0
	run timeout 10 "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"before\n"); time.sleep(0.3)
s.send(b"!", socket.MSG_OOB)
s.sendall(b"after\n")
s.shutdown(socket.SHUT_WR)
while s.recv(65536):	# until the listener ends too: a clean EOF
    pass
s.close()' "$PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(od -An -c "$BATS_TEST_TMPDIR/got")" = "$(printf 'before\n!after\n' | od -An -c)" ]
}

# bats test_tags=unix
@test "a second signal ends it at once, without the 2 s flush" {
	# stdout is a FIFO nobody reads, so the flush after the first
	# signal could only wait out its 2 s.
	mkfifo "$BATS_TEST_TMPDIR/out"
	exec 5<>"$BATS_TEST_TMPDIR/out"
	LISTEN_OUT=$BATS_TEST_TMPDIR/out listen_bg -k 127.0.0.1 0
	"$PYTHON" -c 'import sys; sys.stdout.write("line of text\n" * 400000)' |
	    timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" 3>&- 5>&- &
	BG_PIDS+=("$!")
	wait_for_file "$LISTEN_ERR" 'connection from'
	# Its buffers are full once input waits unread in its socket.
	local i pid
	for ((i = 0; i < 100; i++)); do
		ss -Htn "sport = :$PORT" |
		    awk '$2 > 0 { found = 1 } END { exit !found }' && break
		sleep 0.05
	done
	pid=$(ztpipe_pid "$LISTEN_PID")
	kill -TERM "$pid"
	wait_for_file "$LISTEN_ERR" 'signal 15, stopping'
	kill -0 "$pid"	# still flushing
	kill -TERM "$pid"
	wait_exit "$LISTEN_PID" 1
	# what its stdout did not take is lost, and said
	[ "$EXIT_STATUS" -eq 1 ]
	grep -q '^ztpipe: signal 15: .*received not written' "$LISTEN_ERR"
}

# bats test_tags=unix
@test "a quiet sender hears its listener's reset at once, not at its next line (tail -F into a collector)" {
	local in=$BATS_TEST_TMPDIR/in err=$BATS_TEST_TMPDIR/err
	mkfifo "$in"
	# one line, then a pipe open and quiet, as tail -F is between lines
	start_bg bash -c 'exec >"$1"; echo "one line"; exec sleep 30' _ "$in"
	# stdin /dev/null: the collector half-closes at once, and reads on
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k 127.0.0.1 0
	start_bg timeout 20 "$ZTPIPE" 127.0.0.1 "$PORT" <"$in" 2>"$err"
	sender=$BG_PID
	wait_for_size "$BATS_TEST_TMPDIR/got" 1 -l
	kill -TERM "$(ztpipe_pid "$LISTEN_PID")"
	wait_exit "$sender" 5	# not the 30 s until its next line
	echo "sender: status $EXIT_STATUS: $(cat "$err")"
	[ "$EXIT_STATUS" -eq 1 ]
	# (the kernel's word for a reset after the peer's FIN)
	[ "$(cat "$err")" = "ztpipe: 127.0.0.1 port $PORT: Broken pipe" ]
}
