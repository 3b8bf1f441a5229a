#!/usr/bin/env bats
# A chat between two people, each in a real terminal (tmux).

load helper

# Every test here types into a terminal (tmux): not under wine.
# bats file_tags=unix

setup() {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-test-$$-$BATS_TEST_NUMBER
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
}

teardown() {
	tm_quit
	stop_bg
}



# session_ends SESSION: its program exited within 10 s.
session_ends() {
	local i
	for ((i = 0; i < 200; i++)); do
		tm has-session -t "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "session $1 still running" >&2
	return 1
}

start_chat() {
	local err=$BATS_TEST_TMPDIR/srv.err
	tm new-session -d -s srv -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' -l -v $* 127.0.0.1 0 2>'$err'"
	wait_for_file "$err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$err")
	tm new-session -d -s cli -x 100 -y 20 \
	    "timeout --foreground 30 '$ZTPIPE' 127.0.0.1 $PORT"
	wait_for_file "$err" 'connection from'
}

@test "a chat in two terminals carries Turkish text both ways" {
	start_chat
	tm send-keys -t cli 'merhaba dünya, nasılsın?' Enter
	screen_has srv 'merhaba dünya, nasılsın?'
	tm send-keys -t srv 'iyiyim, teşekkürler! çğıöşü' Enter
	screen_has cli 'iyiyim, teşekkürler! çğıöşü'
}

@test "when one person leaves (Ctrl-D), both ends of the chat finish" {
	start_chat
	tm send-keys -t cli 'görüşürüz' Enter
	screen_has srv 'görüşürüz'
	tm send-keys -t cli C-d
	session_ends srv
	session_ends cli
}

@test "a -d listener keeps a typing peer connected until it leaves" {
	start_chat -d
	tm send-keys -t cli 'first line' Enter
	screen_has srv 'first line'
	tm send-keys -t cli 'second line, still here' Enter
	screen_has srv 'second line, still here'
	tm has-session -t cli
	tm send-keys -t cli C-d
	session_ends srv
	session_ends cli
}

@test "with no host, in a terminal, ztpipe asks for the peer's address" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -d 127.0.0.1 0
	tm new-session -d -s cli -x 100 -y 20 "timeout --foreground 30 '$ZTPIPE'"
	screen_has cli 'peer address [port]:'
	tm send-keys -t cli "127.0.0.1 $PORT" Enter
	wait_for_file "$LISTEN_ERR" 'connection from'
	tm send-keys -t cli 'selam, nasılsın?' Enter
	wait_for_file "$BATS_TEST_TMPDIR/got" 'selam, nasılsın?'
}

@test "the terminal is left as it was: same stty settings, blocking again" {
	printf 'bye\n' >"$BATS_TEST_TMPDIR/in"
	LISTEN_IN=$BATS_TEST_TMPDIR/in listen_bg 127.0.0.1 0
	local d=$BATS_TEST_TMPDIR
	tm new-session -d -s cli -x 100 -y 20 "bash -c '
stty -g >$d/before
timeout --foreground 10 $ZTPIPE -v -P 127.0.0.1 $PORT
echo \$? >$d/status
stty -g >$d/after
$PYTHON -c \"import fcntl, os; print(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK)\" >$d/nonblock
sleep 60'"
	wait_for_file "$d/nonblock" '[0-9]'
	[ "$(cat "$d/status")" = 0 ]
	[ "$(cat "$d/before")" = "$(cat "$d/after")" ]
	[ "$(cat "$d/nonblock")" = 0 ]
	screen_has cli 'bye'
	screen_has cli 'closed its side'
	# -P draws on a terminal without being forced, ending in a summary
	screen_has cli 'sent 0 B (0 B/s), received 4 B'
}

@test "a listener whose terminal is paused (Ctrl-S) still stops on SIGTERM: status 1, a line says what was not written" {
	local d=$BATS_TEST_TMPDIR err=$BATS_TEST_TMPDIR/srv.err pid i client
	tm new-session -d -s srv -x 100 -y 20 "bash -c 'echo \$\$ >$d/sh
timeout --foreground 30 $ZTPIPE -l -v 127.0.0.1 0 2>$err; echo \$? >$d/status
exec sleep 60'"
	wait_for_file "$err" 'listening on'
	PORT=$(sed -n 's/.*port \([0-9]*\)$/\1/p' "$err")
	pid=$(ztpipe_pid "$(pgrep -P "$(cat "$d/sh")" timeout)")
	tm send-keys -t srv C-s		# output paused: a write to it waits
	start_bg bash -c "yes 'a line for a paused terminal' | head -c 2000000 |
	    timeout 30 '$ZTPIPE' 127.0.0.1 $PORT 2>'$d/client.err'"
	client=$BG_PID
	# Bytes wait unread in its socket: it is held up by its stdout.
	for ((i = 0; i < 200; i++)); do
		ss -Htn "sport = :$PORT" |
		    awk '$2 > 0 { found = 1 } END { exit !found }' && break
		sleep 0.05
	done
	kill -TERM "$pid"
	# A stop drains for 2 s at most; 8 s is a bound for a hang only.
	for ((i = 0; i < 160; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	tm send-keys -t srv C-q		# a miss still ends
	cat "$err"
	[ "$i" -lt 160 ]
	wait_for_file "$d/status" '[0-9]'
	[ "$(cat "$d/status")" -eq 1 ]
	grep -Eqx 'ztpipe: signal 15: .*received not written; connection reset' "$err"
	wait_exit "$client" 10
	echo "client: status $EXIT_STATUS: $(cat "$d/client.err")"
	[ "$EXIT_STATUS" -eq 1 ]
}
