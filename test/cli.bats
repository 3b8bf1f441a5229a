#!/usr/bin/env bats
# The command line: help, version, usage errors, the build itself.

load helper

teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tm_quit
	stop_bg
}

# usage_fails MESSAGE ARGS...: ztpipe ARGS is a usage error (status 2,
# nothing on stdout) whose first line is exactly "ztpipe: MESSAGE".
usage_fails() {
	local want=$1
	shift
	run --separate-stderr timeout 5 "$ZTPIPE" "$@" </dev/null
	if [ "$status" -ne 2 ] || [ -n "$output" ] ||
	    [ "${stderr_lines[0]}" != "ztpipe: $want" ]; then
		echo "ztpipe $*: status $status, stderr '$stderr'; want 'ztpipe: $want'" >&2
		return 1
	fi
	[ "${stderr_lines[1]}" = "Try 'ztpipe --help'." ]
}

@test "--help prints usage to stdout and exits 0" {
	run --separate-stderr "$ZTPIPE" --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]] || false
	[ -z "$stderr" ]
}

@test "-h and --help list every option, short and long" {
	run "$ZTPIPE" -h
	[ "$status" -eq 0 ]
	for o in -4,\ --ipv4 -6,\ --ipv6 -d,\ --no-stdin -h,\ --help \
	    -k,\ --keep-open -l,\ --listen -m,\ --max-conns -s,\ --source \
	    -v,\ --verbose -V,\ --version -w,\ --wait; do
		[[ "$output" == *"$o"* ]] || { echo "missing $o"; false; }
	done
}

@test "--version and -V print the version" {
	run "$ZTPIPE" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^ztpipe\ [0-9]+\.[0-9]+ ]] || false
	run "$ZTPIPE" -V
	[[ "$output" =~ ^ztpipe\ [0-9] ]] || false
}

@test "an unknown option is a usage error (status 2)" {
	run --separate-stderr "$ZTPIPE" --bogus 127.0.0.1
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == "ztpipe: unknown option: --bogus"* ]] || false
	[[ "$stderr" == *"ztpipe --help"* ]] || false
	run --separate-stderr "$ZTPIPE" -x 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: unknown option: -x"* ]] || false
}

@test "an option without its value is a usage error naming it" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 -w
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: -w needs a value"* ]] || false
}

@test "a long option given a value it does not take says so, quoting it as typed" {
	usage_fails "--chat takes no value: --chat=1" --chat=1 -l
	usage_fails "--chat takes no value: --ch=yes" --ch=yes -l
	usage_fails "--help takes no value: --help=x" --help=x
	usage_fails "--listen takes no value: --listen=" --listen= 9000
	usage_fails "--no-stdin takes no value: --no=1" 127.0.0.1 --no=1
}

@test "an ambiguous long option lists what it could be" {
	usage_fails "ambiguous option: --n could be --no-stdin, --name, --network" --n 127.0.0.1
	usage_fails "ambiguous option: --n=3 could be --no-stdin, --name, --network" 127.0.0.1 --n=3
	usage_fails "ambiguous option: --ver could be --verbose, --version" --ver
	# a unique prefix, or a whole name that begins another, is no error
	run --separate-stderr timeout 5 "$ZTPIPE" --vers
	[ "$status" -eq 0 ]
	[[ "$output" == ztpipe\ * ]] || false
}

@test "an unknown option is quoted as typed, even inside a word of letters" {
	usage_fails "unknown option: --bogus=1" --bogus=1 127.0.0.1
	usage_fails "unknown option: --=x" --=x 127.0.0.1
	usage_fails "unknown option: -x (in -vx)" -vx 127.0.0.1
	usage_fails "unknown option: -x (in -lxk)" 127.0.0.1 -lxk
	usage_fails "unknown option: -ş" -ş 127.0.0.1
}

@test "-P with a value attached says -P takes none and which option does" {
	usage_fails "-P takes no value (--progress=VALUE does): -Palways" -Palways 127.0.0.1
	usage_fails "-P takes no value (--progress=VALUE does): -P=always" -P=always 127.0.0.1
	usage_fails "-P takes no value (--progress=VALUE does): -vPalways" 127.0.0.1 -vPalways
	usage_fails "-l takes no value: -l=9000" -l=9000
}

@test "a long option without its value names it as typed" {
	usage_fails "--wait needs a value: --wa" 127.0.0.1 --wa
	usage_fails "--wait needs a value" 127.0.0.1 --wait
	usage_fails "-w needs a value" 127.0.0.1 -vw
}

@test "--progress takes exactly the values --help shows" {
	run "$ZTPIPE" --help
	[[ "$output" == *"-P, --progress "* ]] || false
	[[ "$output" == *"--progress=always "* ]] || false
	[[ "$output" != *auto* ]] || false
	usage_fails "bad value for --progress: 'auto' (--progress=always, or -P alone)" --progress=auto 127.0.0.1
	usage_fails "bad value for --progress: '' (--progress=always, or -P alone)" --progress= 127.0.0.1
	usage_fails "bad value for --progress: 'Always' (--progress=always, or -P alone)" --prog=Always 127.0.0.1
}

@test "--resolve, --addrs and -z refuse the options they would ignore, without crashing" {
	usage_fails "-l cannot be used with --resolve" -l --resolve
	usage_fails "--listen cannot be used with --resolve" --resolve --listen 127.0.0.1
	usage_fails "-k cannot be used with --resolve" --resolve -k 127.0.0.1
	usage_fails "-i cannot be used with --resolve" --resolve -i 5 127.0.0.1
	usage_fails "-R cannot be used with --resolve" -R 2 --resolve 127.0.0.1
	usage_fails "-l cannot be used with --addrs" --addrs -l
	usage_fails "--resolve cannot be used with --addrs" --addrs --resolve 127.0.0.1
	usage_fails "-4 cannot be used with --addrs" -4 --addrs
	usage_fails "-l cannot be used with -z" -lz 9000
	usage_fails "--chat cannot be used with -z" -z --chat 127.0.0.1
	usage_fails "-R cannot be used with -z" -z -R 3 127.0.0.1
	usage_fails "-d cannot be used with --probe" --probe -d 127.0.0.1
}

@test "--resolve and -z still take the options that apply to them" {
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve -4 -v 127.0.0.1
	[ "$status" -eq 0 ]
	[ "$output" = 127.0.0.1 ]
	local port
	port=$(free_port)
	run --separate-stderr timeout 5 "$ZTPIPE" -z -4 -v -w 1 -s 127.0.0.1 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"Connection refused"* ]] || false
}

# bats test_tags=unix
@test "^D at the peer address [port]: prompt prints its error on a line of its own" {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-cli-$$-$BATS_TEST_NUMBER
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	local port
	tm new-session -d -s empty -x 100 -y 20 "bash -c '
timeout --foreground 10 \"$ZTPIPE\"; echo status=\$?; sleep 30'"
	screen_has empty 'peer address [port]:'
	tm send-keys -t empty C-d
	screen_has empty 'status=2'
	run tm capture-pane -p -t empty
	echo "$output"
	grep -qxF 'peer address [port]:' <<<"$output"
	grep -qx 'ztpipe: no host to connect to' <<<"$output"
	# An address ended by ^D instead of Enter: the dial's error too.
	port=$(free_port)
	tm new-session -d -s typed -x 100 -y 20 "bash -c '
timeout --foreground 10 \"$ZTPIPE\"; echo status=\$?; sleep 30'"
	screen_has typed 'peer address [port]:'
	tm send-keys -t typed "127.0.0.1 $port" C-d C-d
	screen_has typed 'status=1'
	run tm capture-pane -p -t typed
	echo "$output"
	grep -qxF "peer address [port]: 127.0.0.1 $port" <<<"$output"
	grep -qx "ztpipe: connect to 127.0.0.1 port $port: Connection refused" <<<"$output"
}

# bats test_tags=unix
@test "an address typed with its port at the prompt: status 2, and where the port goes" {
	command -v tmux >/dev/null || skip "tmux not installed"
	TMUX_SOCK=ztpipe-cli-$$-$BATS_TEST_NUMBER
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	tm new-session -d -s colon -x 120 -y 20 "bash -c '
timeout --foreground 10 \"$ZTPIPE\"; echo status=\$?; sleep 30'"
	screen_has colon 'peer address [port]:'
	tm send-keys -t colon "127.0.0.1:9000" Enter
	screen_has colon 'status=2'
	run tm capture-pane -p -t colon
	echo "$output"
	grep -qxF "ztpipe: 127.0.0.1:9000: the port goes after a space: 127.0.0.1 9000" <<<"$output"
}

@test "no host to dial is a usage error" {
	run --separate-stderr timeout 5 "$ZTPIPE" </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"no host"* ]] || false
}

@test "port abc is a usage error naming it" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 abc
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: bad port: abc"* ]] || false
}

@test "port 0 is a usage error when dialling" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: bad port: 0"* ]] || false
}

@test "port 70000 is a usage error, also with -l" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 70000
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad port: 70000"* ]] || false
	run --separate-stderr "$ZTPIPE" -l 70000
	[ "$status" -eq 2 ]
}

@test "a bad -w value is a usage error" {
	run --separate-stderr "$ZTPIPE" -w soon 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"bad wait: soon"* ]] || false
}

@test "-k without -l is a usage error" {
	run --separate-stderr "$ZTPIPE" -k 127.0.0.1
	[ "$status" -eq 2 ]
}

@test "-m without -k, --chat or --to is a usage error: one peer has nothing to bound" {
	run --separate-stderr "$ZTPIPE" -l -m 5
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: -m needs -k, --chat or --to: without them one peer is served"* ]] || false
	run --separate-stderr "$ZTPIPE" --max-conns 5 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$stderr" == "ztpipe: --max-conns needs -k"* ]] || false
}

@test "too many arguments is a usage error" {
	run --separate-stderr "$ZTPIPE" 127.0.0.1 1 2
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"too many arguments"* ]] || false
}

@test "ztpipe.c builds alone, warning-free, with cc, gcc and clang" {
	for cc in cc gcc clang; do
		command -v "$cc" >/dev/null || continue
		run "$cc" -std=c99 -Wall -Wextra -pedantic -o "$BATS_TEST_TMPDIR/z-$cc" \
		    "$BATS_TEST_DIRNAME/../ztpipe.c"
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$cc: $output"; false; }
		"$BATS_TEST_TMPDIR/z-$cc" --version | grep -q '^ztpipe '
	done
}

@test "the manual page passes mandoc -Tlint -W warning" {
	command -v mandoc >/dev/null || skip "mandoc not installed"
	run mandoc -Tlint -W warning "$BATS_TEST_DIRNAME/../ztpipe.1"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "every long option is in the manual page and the README" {
	local top=$BATS_TEST_DIRNAME/.. o
	for o in $("$ZTPIPE" --help | grep -o -- '--[a-z0-9-]*' | sort -u); do
		grep -q -- "${o#--}" "$top/ztpipe.1" || { echo "$o not in ztpipe.1"; false; }
		grep -q -- "$o" "$top/README.md" || { echo "$o not in README"; false; }
	done
}

@test "an empty host is a usage error, not a resolver riddle" {
	run --separate-stderr "$ZTPIPE" '' 80
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: empty host" ]
	run --separate-stderr "$ZTPIPE" -l '' 80
	[ "$status" -eq 2 ]
}

@test "an empty source address is a usage error, as an empty host is" {
	usage_fails "empty -s" -s '' 127.0.0.1 1
	usage_fails "empty --source" --source= 127.0.0.1 1
	usage_fails "empty -s" -z -s '' 127.0.0.1 1
}

@test "nc's -l -p PORT: the port is an argument, and the hint shows it" {
	usage_fails "unknown option: -p (the port is an argument: ztpipe -l 9000)" -l -p 9000
	usage_fails "unknown option: -p (the port is an argument: ztpipe -l 9000)" -lp9000
	usage_fails "unknown option: -p (the port is an argument: ztpipe -l 9000)" -p 9000 -l
	usage_fails "unknown option: -p (the port is an argument: ztpipe -l ::1 9000)" -l -p 9000 ::1
	usage_fails "unknown option: -p (the port is an argument: ztpipe -l port)" -l -p
	usage_fails "unknown option: -p (the port to dial is an argument: ztpipe 127.0.0.1 9000)" -p 9000 127.0.0.1
	usage_fails "unknown option: -p (the port to dial is an argument: ztpipe host 9000)" -vp 9000
}

@test "nc's -N: not needed, ztpipe half-closes when stdin ends" {
	usage_fails "unknown option: -N (not needed: ztpipe half-closes when stdin ends)" -N 127.0.0.1 9000
	usage_fails "unknown option: -N (not needed: ztpipe half-closes when stdin ends)" -lN 9000
}

@test "nc's -q SECS: ztpipe has no -q, and --send-only ends once stdin is sent" {
	usage_fails "unknown option: -q (to end once stdin is sent, use --send-only)" -q 1 127.0.0.1 9100
	usage_fails "unknown option: -q (to end once stdin is sent, use --send-only)" 127.0.0.1 9100 -q0
	usage_fails "unknown option: -q (to end once stdin is sent, use --send-only)" 127.0.0.1 -q
}

@test "host:port is a usage error that gives the port its own argument" {
	usage_fails "127.0.0.1:9000: the port goes in an argument of its own: ztpipe 127.0.0.1 9000" 127.0.0.1:9000
	usage_fails "[fd80::1]:9000: the port goes in an argument of its own: ztpipe fd80::1 9000" '[fd80::1]:9000'
	usage_fails "localhost:http: the port goes in an argument of its own: ztpipe localhost http" localhost:http
	usage_fails "127.0.0.1:9000: the port goes in an argument of its own: ztpipe -l 127.0.0.1 9000" -l 127.0.0.1:9000
	usage_fails "127.0.0.1:9000: the port goes in an argument of its own: ztpipe -z 127.0.0.1 9000" -z 127.0.0.1:9000
	usage_fails "zt:a45dc9d260:9000: the port goes in an argument of its own: ztpipe zt:a45dc9d260 9000" zt:a45dc9d260:9000
	usage_fails "[::1]: an IPv6 address goes without brackets: ztpipe ::1" '[::1]' 9000
}

@test "IPv6 addresses are no host:port: ::1 and fd80::1 stay addresses" {
	local a
	for a in ::1 fd80::1 fd80::1:9000 ::ffff:127.0.0.1; do
		run --separate-stderr timeout 5 "$ZTPIPE" --resolve -6 "$a"
		[ "$status" -eq 0 ]
		[ "$output" = "$a" ]
	done
	listen_bg ::1 0
	echo v6 | timeout 5 "$ZTPIPE" ::1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/listen.out")" = v6 ]
}

@test "a long option a slip away from a real one: did you mean" {
	usage_fails "unknown option: --lsiten (did you mean --listen?)" --lsiten 9000
	usage_fails "unknown option: --verbsoe (did you mean --verbose?)" --verbsoe 127.0.0.1
	usage_fails "unknown option: --resovle=x (did you mean --resolve?)" --resovle=x
	usage_fails "unknown option: --udq (did you mean --udp?)" --udq 127.0.0.1
	usage_fails "unknown option: --ipv5 (did you mean --ipv4 or --ipv6?)" --ipv5 127.0.0.1
	usage_fails "unknown option: --keepopen (did you mean --keep-open?)" -l --keepopen
	# nothing close: no guess
	usage_fails "unknown option: --bogus" --bogus 127.0.0.1
	usage_fails "unknown option: --xy" --xy 127.0.0.1
	usage_fails "unknown option: --lstn" --lstn
}

@test "a bad time is a usage error naming the option's time and the value" {
	local bad
	for bad in 0 0s 0ms -1 -0.5 0.0001 1e3 5. . '' ms s 2S '1 s' ' 1' 1h1 1m30s 0x10 +1 \
	    inf nan 597h 2147483.648 2147483648ms 99999999999999999999; do
		usage_fails "bad idle time: $bad" -i "$bad" 127.0.0.1
		usage_fails "bad retry time: $bad" -R "$bad" 127.0.0.1
		usage_fails "bad wait: $bad" --wait="$bad" 127.0.0.1
	done
}

@test "the longest time, 2147483.647 s (596h is less), is taken; a time is read to the ms" {
	local port t
	port=$(free_port)
	for t in 2147483.647 2147483647ms 596h 35791m .5 0.0005 1.5ms; do
		run --separate-stderr timeout 5 "$ZTPIPE" -z -w "$t" 127.0.0.1 "$port" </dev/null
		[ "$status" -eq 1 ] || { echo "-w $t: status $status: $stderr"; false; }
	done
}

@test "--send-only does not go with -k, --chat or -d" {
	usage_fails "--send-only cannot be used with -k" -l -k --send-only
	usage_fails "--send-only cannot be used with --chat" -l --chat --send-only
	usage_fails "--send-only cannot be used with -d" -d --send-only 127.0.0.1
}
