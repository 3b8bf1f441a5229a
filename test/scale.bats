#!/usr/bin/env bats
# -k at scale: thousands of clients at once, and a stdout that stalls.
# Unix only: fd limits, /proc.
# bats file_tags=unix

load helper

# Each of these needs a descriptor per client in the listener and in the
# python client: the soft limit is raised here, the hard one must allow it.
setup() {
	local need=8192
	if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
		skip "hard fd limit $(ulimit -Hn), below $need"
	fi
	ulimit -Sn "$need"
}

# clients PORT N LINES BYTES: N connections to PORT opened at once by one
# python process (non-blocking connects, all begun before any is served);
# client c sends LINES lines "c%04d %06d xxx...\n" (the x's 0-BYTES long,
# seeded by c, BYTES long for every line if BYTES is negated) as soon as
# it is up, then closes.  Fails if a connection fails (or after 120 s).
clients() {
	timeout 120 "$PYTHON" - "$@" <<'PY'
import errno, random, selectors, socket, sys

port, n, lines, size = map(int, sys.argv[1:5])
sel = selectors.DefaultSelector()
for c in range(n):
    r = random.Random(c)
    data = b"".join(b"c%04d %06d %s\n" % (c, i, b"x" * (
        -size if size < 0 else r.randint(0, size))) for i in range(lines))
    s = socket.socket()
    s.setblocking(False)
    e = s.connect_ex(("127.0.0.1", port))
    if e not in (0, errno.EINPROGRESS):
        sys.exit("connect: %s" % errno.errorcode.get(e, e))
    sel.register(s, selectors.EVENT_WRITE, memoryview(data))
left = n
while left:
    for key, _ in sel.select():
        s = key.fileobj
        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if e:
            sys.exit("connection failed: %s" % errno.errorcode.get(e, e))
        try:
            sent = s.send(key.data)
        except BlockingIOError:
            continue
        if sent < len(key.data):
            sel.modify(s, selectors.EVENT_WRITE, key.data[sent:])
            continue
        sel.unregister(s)
        s.close()
        left -= 1
PY
}

# start_listener OUT: ztpipe -lk -v -m 3100 on 127.0.0.1 with stdout to
# OUT; sets LPID (timeout's), ZPID (ztpipe's), PORT.
start_listener() {
	LISTEN_ERR=$BATS_TEST_TMPDIR/err
	start_bg timeout 120 "$ZTPIPE" -lk -v -m 3100 127.0.0.1 0 </dev/null \
	    >"$1" 2>"$LISTEN_ERR" 6>&-
	LPID=$BG_PID
	wait_for_file "$LISTEN_ERR" 'listening on'
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR")
	ZPID=$(ztpipe_pid "$LPID")
}

# settle N CMD...: until CMD prints N or more, or the same number for
# 10 s (a bound for a hang: it fails only on what CMD printed last).
settle() {
	local n=$1 i now last=-1 same=0
	shift
	for ((i = 0; i < 2400 && same < 200; i++)); do
		now=$("$@")
		[ "$now" -ge "$n" ] && return 0
		if [ "$now" -eq "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$now
		sleep 0.05
	done
	echo "$* says $now, not $n" >&2
	return 1
}

accepted() { grep -c 'connection from' "$LISTEN_ERR"; }
lines_in() { wc -l <"$1"; }

# peak_kib PID: the most memory PID has held (VmHWM), in KiB.
peak_kib() {
	awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

@test "3,000 clients at once from one process: every line arrives whole, each client's in order" {
	local out=$BATS_TEST_TMPDIR/all.log
	start_listener "$out"
	# Each client connects, sends its lines and closes: one whose
	# handshake the listen queue dropped lost them without a word.
	run clients "$PORT" 3000 10 300
	echo "$output"
	[ "$status" -eq 0 ]
	settle 30000 lines_in "$out"
	kill -TERM "$ZPID"
	wait_exit "$LPID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$out" 3000 10
	run ! grep -q refused "$LISTEN_ERR"
}

@test "3,000 clients while stdout stalls: the listener stays under 40 MiB, and every line is written once it drains" {
	local fifo=$BATS_TEST_TMPDIR/stdout out=$BATS_TEST_TMPDIR/all.log rss
	mkfifo "$fifo"
	exec 6<>"$fifo"	# held, never read: stdout stalls once the pipe is full
	start_listener "$fifo"
	# 3,000 lines of 12 KB: 36 MB, which today's budget cannot all hold
	run clients "$PORT" 3000 1 -12000
	echo "$output"
	[ "$status" -eq 0 ]
	settle 3000 accepted
	# Drain: a reader of our own first, so that stdout's reader never
	# leaves, which the listener would take for an end.
	exec 7<"$fifo"
	cat <&7 >"$out" 6>&- 7>&- &
	BG_PIDS+=("$!")
	exec 6>&- 7<&-
	settle 3000 lines_in "$out"
	rss=$(peak_kib "$ZPID")
	kill -TERM "$ZPID"
	wait_exit "$LPID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	check_lines "$out" 3000 1
	echo "peak RSS $rss KiB"
	[[ $ZTPIPE == *-san ]] || [ "$rss" -lt 40960 ]	# ASan's own is more
}
