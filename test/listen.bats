#!/usr/bin/env bats
# Listening and dialling: ports, families, addresses.

load helper

@test "the default port is 12345 on both sides" {
	if ss -ltn 2>/dev/null | grep -q ':12345 '; then
		skip "port 12345 is busy on this machine"
	fi
	listen_bg
	[ "$PORT" = 12345 ]
	grep -q 'listening on :: port 12345' "$LISTEN_ERR"
	printf 'hello on the default port\n' | timeout 10 "$ZTPIPE" 127.0.0.1
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "hello on the default port" ]
}

@test "-l PORT: a single number after -l is the port" {
	local port
	port=$(free_port)
	listen_bg "$port"
	[ "$PORT" = "$port" ]
	printf 'x\n' | timeout 10 "$ZTPIPE" 127.0.0.1 "$port"
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = x ]
}

@test "-l ADDRESS PORT listens on that address only" {
	listen_bg 127.0.0.1 0
	grep -q "listening on 127.0.0.1 port $PORT" "$LISTEN_ERR"
	run --separate-stderr timeout 5 "$ZTPIPE" ::1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Connection refused"* ]] || false
}

# bats test_tags=unix
@test "a service name works as the port" {
	local name=http-alt port=8080
	grep -q "^$name[[:space:]]*$port/tcp" /etc/services 2>/dev/null ||
	    skip "no $name in /etc/services"
	ss -ltn | grep -q ":$port " && skip "port $port is busy"
	listen_bg 127.0.0.1 "$name"
	[ "$PORT" = "$port" ]
	printf 'by name\n' | timeout 10 "$ZTPIPE" 127.0.0.1 "$name"
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "by name" ]
}

@test "IPv6 ::1 works both ways, shown without brackets" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 300000
	listen_bg ::1 0
	grep -q "listening on ::1 port $PORT" "$LISTEN_ERR"
	timeout 10 "$ZTPIPE" ::1 "$PORT" <"$f"
	wait_exit "$LISTEN_PID" 10
	[ "$(sha "$BATS_TEST_TMPDIR/listen.out")" = "$(sha "$f")" ]
}

@test "a listener without address is reached over 127.0.0.1" {
	listen_bg 0
	grep -q "listening on :: port $PORT" "$LISTEN_ERR"
	printf 'over v4\n' | timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "over v4" ]
	grep -q "connection from 127.0.0.1 port" "$LISTEN_ERR"
}

@test "a listener without address is reached over ::1" {
	listen_bg 0
	printf 'over v6\n' | timeout 10 "$ZTPIPE" ::1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "over v6" ]
	grep -q "connection from ::1 port" "$LISTEN_ERR"
}

@test "-4 -l listens on IPv4 only" {
	listen_bg -4 0
	grep -q "listening on 0.0.0.0 port $PORT" "$LISTEN_ERR"
	run timeout 5 "$ZTPIPE" ::1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
}

@test "-6 -l listens on IPv6 only" {
	listen_bg -6 0
	grep -q "listening on :: port $PORT" "$LISTEN_ERR"
	run timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
}

@test "the listener serves one connection; the next caller is refused" {
	listen_bg 127.0.0.1 0
	exec 4< <(sleep 5)
	timeout 10 "$ZTPIPE" 127.0.0.1 "$PORT" <&4 >/dev/null 3>&- &
	BG_PIDS+=("$!")
	exec 4<&-
	wait_for_file "$LISTEN_ERR" 'connection from'
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Connection refused"* ]] || false
}

@test "-s binds the dialling socket to a source address" {
	listen_bg 127.0.0.1 0
	printf 'from .2\n' | timeout 10 "$ZTPIPE" -s 127.0.0.2 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	grep -q "connection from 127.0.0.2 port" "$LISTEN_ERR"
}

@test "-s with an address this host does not have fails clearly" {
	listen_bg 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -s 192.0.2.1 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"bind to 192.0.2.1: "$E_ADDRNOTAVAIL* ]] || false
}

@test "connect tries every address of a name in order" {
	grep -Eq '^127\.0\.0\.1[[:space:]].*localhost' /etc/hosts ||
	    skip "localhost is not in /etc/hosts"
	listen_bg -4 0
	printf 'via name\n' | timeout 10 "$ZTPIPE" localhost "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = "via name" ]
}
