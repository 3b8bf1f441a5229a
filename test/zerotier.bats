#!/usr/bin/env bats
# ZeroTier: node IDs, --resolve, --addrs, --allow, dial and failure hints.
# The tests that need ZeroTier interfaces build two hosts from network
# namespaces joined by a veth pair named and addressed like ZeroTier's.

# shellcheck disable=SC2030,SC2031,SC2154
# (bats' run sets status, output and stderr_lines; each test is a subshell)

load helper

# A network ID in the caller's environment would change what node IDs mean.
unset ZTPIPE_NETWORK

NETNS=()

# network, node, RFC4193 address, 6PLANE address
VECTORS=(
	"8056c2e21c000001 a45dc9d260 fd80:56c2:e21c:0:199:93a4:5dc9:d260 fc9c:56c2:e3a4:5dc9:d260::1"
	"ff07d00bb8000000 75f3543094 fdff:7d0:bb8:0:99:9375:f354:3094 fc47:7d0:b75:f354:3094::1"
	"9bee8941b5de0691 1234512345 fd9b:ee89:41b5:de06:9199:9312:3451:2345 fc2e:308f:d012:3451:2345::1"
	"0123456789abcdef 0000000001 fd01:2345:6789:abcd:ef99:9300:0:1 fc88:8888:8800:0:1::1"
)

# The namespace hosts: A is node a45dc9d260, B is node 1234512345, whose
# digits are also an IPv4 address (73.149.41.217): it is written zt:ID.
NWID=8056c2e21c000001
NODE_A=a45dc9d260
NODE_B=1234512345
RFC_A=fd80:56c2:e21c:0:199:93a4:5dc9:d260
RFC_B=fd80:56c2:e21c:0:199:9312:3451:2345

teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tm_quit
	stop_bg
	local ns
	for ns in "${NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

# resolves WANT ARGS...: "ztpipe --resolve ARGS" prints exactly WANT.
resolves() {
	local want=$1
	shift
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve "$@"
	if [ "$status" -ne 0 ] || [ "$output" != "$want" ]; then
		echo "--resolve $*: status $status, '$output' $stderr; want $want" >&2
		return 1
	fi
}

# Skip where a real ZeroTier (or anything named like it) is up.
no_zt_here() {
	if ip -o link show 2>/dev/null | grep -Eq '^[0-9]+: (zt|feth)'; then
		skip "this host has ZeroTier-named interfaces"
	fi
}

# zt_id NODE: the node ID as a host: zt:NODE when it has no letter.
zt_id() {
	if [[ $1 == *[a-fA-F]* ]]; then echo "$1"; else echo "zt:$1"; fi
}

@test "a node ID resolves to its RFC4193 address on the given network" {
	local v nwid node rfc
	for v in "${VECTORS[@]}"; do
		read -r nwid node rfc _ <<<"$v"
		resolves "$rfc" --network "$nwid" "$(zt_id "$node")"
		resolves "$rfc" --network "$nwid" "zt:$node"
	done
}

@test "with --6plane a node ID resolves to its 6PLANE address" {
	local v nwid node sixplane
	for v in "${VECTORS[@]}"; do
		read -r nwid node _ sixplane <<<"$v"
		resolves "$sixplane" --6plane --network "$nwid" "$(zt_id "$node")"
	done
}

@test "\$ZTPIPE_NETWORK names the network when --network is not given" {
	ZTPIPE_NETWORK=ff07d00bb8000000 resolves fdff:7d0:bb8:0:99:9375:f354:3094 \
	    75f3543094
	ZTPIPE_NETWORK=ff07d00bb8000000 resolves fc47:7d0:b75:f354:3094::1 \
	    --6plane 75f3543094
}

@test "--network wins over \$ZTPIPE_NETWORK" {
	ZTPIPE_NETWORK=ff07d00bb8000000 resolves "$RFC_A" --network "$NWID" "$NODE_A"
}

@test "zt: and ten decimal digits, ten past IPv4's range, or upper-case hex are a node ID" {
	resolves fd9b:ee89:41b5:de06:9199:9312:3451:2345 \
	    --network 9bee8941b5de0691 zt:1234512345
	resolves fd9b:ee89:41b5:de06:9199:9399:9999:9999 \
	    --network 9bee8941b5de0691 9999999999
	resolves "$RFC_A" --network 8056C2E21C000001 A45DC9D260
}

@test "ten decimal digits that are also an IPv4 address: status 2, both readings, how to write each" {
	local args
	for args in "2130706433" "--network $NWID 2130706433" "-z 2130706433 1"; do
		# shellcheck disable=SC2086
		run --separate-stderr timeout 5 "$ZTPIPE" $args </dev/null
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[ "${stderr_lines[0]}" = "ztpipe: 2130706433 is both IPv4 address 127.0.0.1 and a ZeroTier node ID: write 127.0.0.1 for the address, zt:2130706433 for the node" ]
	done
	# as getaddrinfo reads it: a leading 0 is octal
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve "$NODE_B"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: $NODE_B is both IPv4 address 73.149.41.217 and a ZeroTier node ID: write 73.149.41.217 for the address, zt:$NODE_B for the node" ]
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve 0000000010
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: 0000000010 is both IPv4 address 0.0.0.8 and a ZeroTier node ID: write 0.0.0.8 for the address, zt:0000000010 for the node" ]
}

@test "zt: with anything but 10 hex digits is a usage error that quotes it" {
	local bad
	for bad in zt: zt:xyz zt:a45dc9d26 zt:a45dc9d2600 "zt: a45dc9d260" zt:zt:a45dc9d260; do
		run --separate-stderr timeout 5 "$ZTPIPE" --resolve --network "$NWID" "$bad"
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[ "${stderr_lines[0]}" = "ztpipe: bad node ID: '$bad' (zt: and 10 hex digits)" ]
	done
}

@test "-v says which address a node ID stands for" {
	run --separate-stderr timeout 5 "$ZTPIPE" -v --resolve --network "$NWID" "$NODE_A"
	[ "$status" -eq 0 ]
	[ "$output" = "$RFC_A" ]
	[ "$stderr" = "ztpipe: node $NODE_A on network $NWID is $RFC_A" ]
}

@test "a malformed network ID: status 2 and the message quotes it" {
	local bad
	for bad in xyz 8056c2e21c00000 8056c2e21c0000011 8056c2e21c00000g 0x56c2e21c000001; do
		run --separate-stderr timeout 5 "$ZTPIPE" --resolve --network "$bad" "$NODE_A"
		[ "$status" -eq 2 ]
		[ -z "$output" ]
		[ "${stderr_lines[0]}" = "ztpipe: bad network ID: '$bad' (16 hex digits)" ]
	done
	ZTPIPE_NETWORK=xyz run --separate-stderr timeout 5 "$ZTPIPE" --resolve "$NODE_A"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: bad network ID: 'xyz' (16 hex digits)" ]
}

@test "a bad --allow entry: status 2 and the message quotes it" {
	local bad
	for bad in 10.0.0/8 10.0.0.0/33 fd00::/129 127.0.0.1/ /8 bogus "127.0.0.1, ::1"; do
		run --separate-stderr timeout 5 "$ZTPIPE" -l --allow "$bad" 127.0.0.1 0 </dev/null
		[ "$status" -eq 2 ]
		[[ "${stderr_lines[0]}" == "ztpipe: bad --allow entry: '"*"'" ]] || false
	done
	run --separate-stderr timeout 5 "$ZTPIPE" -l --allow 127.0.0.1,nope 127.0.0.1 0 </dev/null
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: bad --allow entry: 'nope'" ]
}

@test "an empty --allow list (or entry) is an error, not an open door" {
	local bad
	for bad in "" "," "127.0.0.1," ",127.0.0.1"; do
		run --separate-stderr timeout 5 "$ZTPIPE" -l -w 1 --allow "$bad" 127.0.0.1 0 </dev/null
		[ "$status" -eq 2 ] || { echo "--allow '$bad': status $status" >&2; false; }
		[ "${stderr_lines[0]}" = "ztpipe: bad --allow entry: ''" ]
	done
}

@test "--allow without -l is a usage error" {
	run --separate-stderr timeout 5 "$ZTPIPE" --allow 127.0.0.1 127.0.0.1 1 </dev/null
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--allow is for listeners, with -l"* ]] || false
}

@test "--allow zt without -l is a usage error (2), not a missing ZeroTier (1)" {
	no_zt_here
	run --separate-stderr timeout 5 "$ZTPIPE" --allow zt 127.0.0.1 1 </dev/null
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: --allow is for listeners, with -l" ]
	run --separate-stderr timeout 5 "$ZTPIPE" -k --allow 10.0.0.0/8,zt 127.0.0.1 </dev/null
	[ "$status" -eq 2 ]
	run --separate-stderr timeout 5 "$ZTPIPE" --allow zt -z 127.0.0.1 1 </dev/null
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: --allow cannot be used with -z" ]
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve --allow zt 127.0.0.1 </dev/null
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: --allow cannot be used with --resolve" ]
}

@test "--addrs with no ZeroTier interface: status 1 and what to check" {
	no_zt_here
	run --separate-stderr timeout 5 "$ZTPIPE" --addrs
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "ztpipe: no ZeroTier interface found: is zerotier-one running"* ]] || false
}

@test "--allow zt with no ZeroTier interface: status 1" {
	no_zt_here
	run --separate-stderr timeout 5 "$ZTPIPE" -l --allow zt 127.0.0.1 0 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == "ztpipe: --allow zt: no ZeroTier interface found"* ]] || false
}

@test "a node ID with no network given and none here: status 1, suggests --network" {
	no_zt_here
	run --separate-stderr timeout 5 "$ZTPIPE" --resolve "$NODE_A"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "ztpipe: $NODE_A is a node ID, but this host is in no ZeroTier network"* ]] || false
	[[ "$stderr" == *"--network"* ]] || false
}

@test "--allow ::1 turns 127.0.0.1 away, says so, and keeps waiting for ::1" {
	local f=$BATS_TEST_TMPDIR/payload
	random_file "$f" 200000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg --allow ::1 0
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" </dev/null
	[ -z "$output" ]
	wait_for_file "$LISTEN_ERR" "refused 127.0.0.1 port [0-9]*: not in --allow"
	kill -0 "$LISTEN_PID"
	timeout 10 "$ZTPIPE" ::1 "$PORT" <"$f"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
	grep -q "connection from ::1 port" "$LISTEN_ERR"
}

@test "--allow 127.0.0.1 takes 127.0.0.1 but not 127.0.0.2" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg --allow 127.0.0.1 127.0.0.1 0
	run --separate-stderr timeout 5 "$ZTPIPE" -s 127.0.0.2 127.0.0.1 "$PORT" <<<"from .2"
	[ -z "$output" ]
	wait_for_file "$LISTEN_ERR" "refused 127.0.0.2 port [0-9]*: not in --allow"
	echo "from .1" | timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "from .1" ]
}

@test "a client turned away by --allow gets a reset: it exits 1, having been heard by nobody" {
	local try
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg -k --allow 127.0.0.1 127.0.0.1 0
	for try in 1 2 3; do
		run --separate-stderr timeout 10 "$ZTPIPE" -s 127.0.0.2 127.0.0.1 "$PORT" \
		    <<<"important $try"
		echo "try $try: status $status: $stderr"
		[ "$status" -eq 1 ]
		# the reset may come during connect() or after it
		[[ "$stderr" =~ ^ztpipe:\ (connect\ to\ )?127\.0\.0\.1\ port\ $PORT:\ Connection\ reset\ by\ peer$ ]] || false
	done
	# a client that only listens learns it too, as a reset, not EOF
	expect_reset "$PORT" 127.0.0.2
	[ "$(grep -c "refused 127.0.0.2 port [0-9]*: not in --allow" "$LISTEN_ERR")" -eq 4 ]
	[ ! -s "$BATS_TEST_TMPDIR/got" ]
	kill -0 "$LISTEN_PID"
}

@test "--allow 10.0.0.0/8 --allow 2001:db8::/32 turns loopback away on both families" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg --allow 10.0.0.0/8 --allow 2001:db8::/32 0
	run --separate-stderr timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT" <<<v4
	[ -z "$output" ]
	run --separate-stderr timeout 5 "$ZTPIPE" ::1 "$PORT" <<<v6
	[ -z "$output" ]
	wait_for_file "$LISTEN_ERR" "refused 127.0.0.1 port [0-9]*: not in --allow"
	wait_for_file "$LISTEN_ERR" "refused ::1 port [0-9]*: not in --allow"
	kill -0 "$LISTEN_PID"
	[ ! -s "$BATS_TEST_TMPDIR/got" ]
	run ! grep -q "connection from" "$LISTEN_ERR"
}

@test "--allow 127.0.0.0/8 matches 127.0.0.1 reaching a dual-stack listener" {
	LISTEN_OUT=$BATS_TEST_TMPDIR/got listen_bg --allow 127.0.0.0/8 0
	grep -q "listening on :: port $PORT" "$LISTEN_ERR"
	echo mapped | timeout 5 "$ZTPIPE" 127.0.0.1 "$PORT"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = mapped ]
	grep -q "connection from 127.0.0.1 port" "$LISTEN_ERR"
}

# ---- two hosts in network namespaces (root) ----

# in_ns NS CMD...: run CMD inside namespace NS.
in_ns() {
	ip netns exec "$@"
}

# netns_up: namespaces NS_A and NS_B joined by ZT_A--ZT_B, a veth pair named
# like ZeroTier interfaces with 10.147.17.1-2/24 and the RFC4193 addresses of
# NODE_A and NODE_B on NWID, and by VX_A--VX_B, a plain link with
# 10.200.0.1-2/24.  Skips the test where namespaces cannot be made.
netns_up() {
	local id
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	NS_A=zta$$-$BATS_TEST_NUMBER
	NS_B=ztb$$-$BATS_TEST_NUMBER
	ip netns add "$NS_A" 2>/dev/null || skip "ip netns add fails here"
	NETNS+=("$NS_A")
	ip netns add "$NS_B"
	NETNS+=("$NS_B")
	id=$(printf %07x $((($$ * 64 + BATS_TEST_NUMBER) % 0x10000000)))
	ZT_A=zt${id}a ZT_B=zt${id}b VX_A=vx${id}a VX_B=vx${id}b
	ip link add "$ZT_A" netns "$NS_A" type veth peer name "$ZT_B" netns "$NS_B"
	ip link add "$VX_A" netns "$NS_A" type veth peer name "$VX_B" netns "$NS_B"
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	ip -n "$NS_A" addr add 10.147.17.1/24 dev "$ZT_A"
	ip -n "$NS_B" addr add 10.147.17.2/24 dev "$ZT_B"
	ip -n "$NS_A" addr add "$RFC_A/88" dev "$ZT_A" nodad
	ip -n "$NS_B" addr add "$RFC_B/88" dev "$ZT_B" nodad
	ip -n "$NS_A" addr add 10.200.0.1/24 dev "$VX_A"
	ip -n "$NS_B" addr add 10.200.0.2/24 dev "$VX_B"
	ip -n "$NS_A" link set "$ZT_A" up
	ip -n "$NS_B" link set "$ZT_B" up
	ip -n "$NS_A" link set "$VX_A" up
	ip -n "$NS_B" link set "$VX_B" up
}

# ns_listen NS ARGS...: listen_bg inside namespace NS.
ns_listen() {
	local ns=$1
	shift
	LISTEN_ERR=$BATS_TEST_TMPDIR/listen.err
	start_bg ip netns exec "$ns" timeout 30 "$ZTPIPE" -l -v "$@" \
	    <"${LISTEN_IN:-/dev/null}" \
	    >"${LISTEN_OUT:-$BATS_TEST_TMPDIR/listen.out}" 2>"$LISTEN_ERR"
	LISTEN_PID=$BG_PID
	wait_for_file "$LISTEN_ERR" 'listening on' || return 1
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' "$LISTEN_ERR" | head -n 1)
	[ -n "$PORT" ]
}

# bats test_tags=unix
@test "--addrs lists the ZeroTier interface with network, node and prefixes, nothing else" {
	netns_up
	run --separate-stderr in_ns "$NS_A" timeout 5 "$ZTPIPE" --addrs
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "$ZT_A  network $NWID  node $NODE_A
  10.147.17.1/24
  $RFC_A/88" ]
}

# hints NS ARGS...: the -l -v lines of a listener in NS that gives up after
# 1 s (so all are written); sets PORT and HINTS, the "a peer can run" lines.
hints() {
	local ns=$1
	shift
	run --separate-stderr in_ns "$ns" timeout 10 "$ZTPIPE" -l -v -w 1 "$@" </dev/null
	[ "$status" -eq 1 ]
	PORT=$(sed -n 's/.*listening on .* port \([0-9]*\)$/\1/p' <<<"$stderr")
	[ -n "$PORT" ]
	HINTS=$(sed -n 's/^ztpipe: a peer can run: //p' <<<"$stderr")
}

# bats test_tags=unix
@test "-l -v tells a peer what to run: the ZeroTier addresses and the node ID" {
	netns_up
	hints "$NS_A" 0
	[ "$HINTS" = "ztpipe 10.147.17.1 $PORT
ztpipe $RFC_A $PORT
ztpipe $NODE_A $PORT" ]
	hints "$NS_A" -4 0
	[ "$HINTS" = "ztpipe 10.147.17.1 $PORT" ]
	hints "$NS_A" "$RFC_A" 0
	[ "$HINTS" = "ztpipe $RFC_A $PORT
ztpipe $NODE_A $PORT" ]
}

# bats test_tags=unix
@test "a node ID of digits only gets zt: in the command -l -v tells a peer to run" {
	netns_up
	hints "$NS_B" 0
	[ "$HINTS" = "ztpipe 10.147.17.2 $PORT
ztpipe $RFC_B $PORT
ztpipe zt:$NODE_B $PORT" ]
}

# bats test_tags=unix
@test "with ZeroTier up, digits that are both IPv4 and a node ID dial nothing; zt: dials the node" {
	netns_up
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_B" 0
	run --separate-stderr in_ns "$NS_A" timeout 5 "$ZTPIPE" "$NODE_B" "$PORT" <<<"guessed"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: $NODE_B is both IPv4 address 73.149.41.217 and a ZeroTier node ID: write 73.149.41.217 for the address, zt:$NODE_B for the node" ]
	kill -0 "$LISTEN_PID"
	run --separate-stderr in_ns "$NS_A" timeout 10 "$ZTPIPE" -v "zt:$NODE_B" "$PORT" <<<"said"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"ztpipe: node $NODE_B on network $NWID is $RFC_B"* ]] || false
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = said ]
	[ "$(grep -c 'connection from' "$LISTEN_ERR")" -eq 1 ]
}

# bats test_tags=unix
@test "a node ID dials the peer with no --network: data arrives byte for byte" {
	local f=$BATS_TEST_TMPDIR/payload
	netns_up
	random_file "$f" 1000000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_A" 0
	run --separate-stderr in_ns "$NS_B" timeout 10 "$ZTPIPE" -v "$NODE_A" "$PORT" <"$f"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"ztpipe: node $NODE_A on network $NWID is $RFC_A"* ]] || false
	[[ "$stderr" == *"connected to $RFC_A port $PORT"* ]] || false
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
	grep -q "connection from $RFC_B port" "$LISTEN_ERR"
}

# bats test_tags=unix
@test "--allow zt takes a peer over ZeroTier after turning one away on another link" {
	local f=$BATS_TEST_TMPDIR/payload
	netns_up
	random_file "$f" 100000
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_A" --allow zt 0
	run --separate-stderr in_ns "$NS_B" timeout 5 "$ZTPIPE" 10.200.0.1 "$PORT" <<<"over vx"
	[ -z "$output" ]
	wait_for_file "$LISTEN_ERR" "refused 10.200.0.2 port [0-9]*: not in --allow"
	kill -0 "$LISTEN_PID"
	in_ns "$NS_B" timeout 10 "$ZTPIPE" 10.147.17.1 "$PORT" <"$f"
	wait_exit "$LISTEN_PID" 10
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(sha "$BATS_TEST_TMPDIR/got")" = "$(sha "$f")" ]
	grep -q "connection from 10.147.17.2 port" "$LISTEN_ERR"
}

# bats test_tags=unix
@test "with ZeroTier up, --allow zt without -l is a usage error and dials nothing" {
	netns_up
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_A" 0
	run --separate-stderr in_ns "$NS_B" timeout 5 "$ZTPIPE" --allow zt 10.147.17.1 "$PORT" <<<"nothing"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "ztpipe: --allow is for listeners, with -l" ]
	# the listener saw no one: it still waits
	sleep 0.3
	kill -0 "$LISTEN_PID"
	! grep -q 'connection from' "$LISTEN_ERR"
}

# bats test_tags=unix
@test "a peer whose ZeroTier link is down: gives up after -w, hint names the interface" {
	netns_up
	ip -n "$NS_A" link set "$ZT_A" down
	SECONDS=0
	run --separate-stderr in_ns "$NS_B" timeout 60 "$ZTPIPE" -w 1 10.147.17.1 12345 </dev/null
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 20 ]	# -w 1, not TCP's minutes: a bound for a hang only
	[[ ${stderr_lines[0]} == "ztpipe: connect to 10.147.17.1 port 12345: "$E_TIMEDOUT ]] || false
	[[ "${stderr_lines[1]}" == "ztpipe: hint: 10.147.17.1 is on ZeroTier interface $ZT_B: is the peer online and authorized?"* ]] || false
	run --separate-stderr in_ns "$NS_B" timeout 10 "$ZTPIPE" -w 1 "$NODE_A" 12345 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"ztpipe: hint: $RFC_A is on ZeroTier interface $ZT_B: is the peer online"* ]] || false
}

# bats test_tags=unix
@test "a refused connection on a ZeroTier address gets no hint" {
	netns_up
	run --separate-stderr in_ns "$NS_B" timeout 5 "$ZTPIPE" 10.147.17.1 12345 </dev/null
	[ "$status" -eq 1 ]
	[ "$stderr" = "ztpipe: connect to 10.147.17.1 port 12345: Connection refused" ]
}

# bats test_tags=unix
@test "no ZeroTier interface up: a ZeroTier-looking address gets the hint to start it" {
	netns_up
	ip -n "$NS_B" link del "$ZT_B"	# and its peer in A
	local hint="looks like a ZeroTier address, but no ZeroTier interface is up: is zerotier-one running"
	# No route at all.
	run --separate-stderr in_ns "$NS_B" timeout 5 "$ZTPIPE" -w 1 10.147.17.1 12345 </dev/null
	[ "$status" -eq 1 ]
	[[ ${stderr_lines[0]} == "ztpipe: connect to 10.147.17.1 port 12345: "$E_NETUNREACH ]] || false
	[[ "${stderr_lines[1]}" == "ztpipe: hint: 10.147.17.1 $hint"* ]] || false
	run --separate-stderr in_ns "$NS_B" timeout 5 "$ZTPIPE" -w 1 "$RFC_A" 12345 </dev/null
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"ztpipe: hint: $RFC_A $hint"* ]] || false
	# A route into a host that drops what it cannot deliver: a timeout.
	in_ns "$NS_A" sysctl -qw net.ipv4.ip_forward=0
	ip -n "$NS_B" route add 10.147.17.0/24 via 10.200.0.1
	SECONDS=0
	run --separate-stderr in_ns "$NS_B" timeout 60 "$ZTPIPE" -w 1 10.147.17.1 12345 </dev/null
	[ "$status" -eq 1 ]
	[ "$SECONDS" -le 20 ]	# -w 1, not TCP's minutes: a bound for a hang only
	[[ ${stderr_lines[0]} == "ztpipe: connect to 10.147.17.1 port 12345: "$E_TIMEDOUT ]] || false
	[[ "${stderr_lines[1]}" == "ztpipe: hint: 10.147.17.1 $hint"* ]] || false
	# Outside the usual ZeroTier ranges: no hint.
	ip -n "$NS_B" route add 10.99.0.0/24 via 10.200.0.1
	run --separate-stderr in_ns "$NS_B" timeout 10 "$ZTPIPE" -w 1 10.99.0.1 12345 </dev/null
	[ "$status" -eq 1 ]
	[[ $stderr == "ztpipe: connect to 10.99.0.1 port 12345: "$E_TIMEDOUT ]] || false
}

# zt2_up: a second ZeroTier-named interface in A, on network ff07d00bb8000000.
zt2_up() {
	ZT2_A=${ZT_A%a}c
	ip link add "$ZT2_A" netns "$NS_A" type veth peer name "${VX_A%a}c" netns "$NS_A"
	ip -n "$NS_A" addr add 10.147.18.1/24 dev "$ZT2_A"
	ip -n "$NS_A" addr add fdff:7d0:bb8:0:99:93a4:5dc9:d260/88 dev "$ZT2_A" nodad
	ip -n "$NS_A" link set "$ZT2_A" up
	ip -n "$NS_A" link set "${VX_A%a}c" up
}

# bats test_tags=unix
@test "two networks here: a node ID needs --network (status 2 lists both)" {
	netns_up
	zt2_up
	run --separate-stderr in_ns "$NS_A" timeout 5 "$ZTPIPE" --resolve "zt:$NODE_B"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "${stderr_lines[0]}" == "ztpipe: several ZeroTier networks here, pick one with --network: "* ]] || false
	[[ "${stderr_lines[0]}" == *"$NWID"* ]] || false
	[[ "${stderr_lines[0]}" == *ff07d00bb8000000* ]] || false
	run --separate-stderr in_ns "$NS_A" timeout 5 "$ZTPIPE" --resolve \
	    --network ff07d00bb8000000 "zt:$NODE_B"
	[ "$status" -eq 0 ]
	[ "$output" = fdff:7d0:bb8:0:99:9312:3451:2345 ]
}

# bats test_tags=unix
@test "two networks here: --addrs lists each interface once, with its addresses" {
	netns_up
	zt2_up
	run --separate-stderr in_ns "$NS_A" timeout 5 "$ZTPIPE" --addrs
	[ "$status" -eq 0 ]
	[ "$output" = "$ZT_A  network $NWID  node $NODE_A
  10.147.17.1/24
  $RFC_A/88
$ZT2_A  network ff07d00bb8000000  node $NODE_A
  10.147.18.1/24
  fdff:7d0:bb8:0:99:93a4:5dc9:d260/88" ]
}

# bats test_tags=unix
@test "two networks here: -l -v gives the node-ID command for each, with --network" {
	netns_up
	zt2_up
	hints "$NS_A" -6 0
	[ "$HINTS" = "ztpipe $RFC_A $PORT
ztpipe --network $NWID $NODE_A $PORT
ztpipe fdff:7d0:bb8:0:99:93a4:5dc9:d260 $PORT
ztpipe --network ff07d00bb8000000 $NODE_A $PORT" ]
}

# bats test_tags=unix
@test "asked for a peer in a terminal, it names the network and dials a node ID typed there" {
	command -v tmux >/dev/null || skip "tmux not installed"
	netns_up
	TMUX_SOCK=ztpipe-zt-$$
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_A" -d 0
	tm new-session -d -s cli -x 120 -y 20 \
	    "ip netns exec $NS_B timeout --foreground 20 '$ZTPIPE'"
	screen_has cli "you are on ZeroTier network $NWID"
	screen_has cli 'peer address [port]:'
	tm send-keys -t cli "$NODE_A $PORT" Enter
	wait_for_file "$LISTEN_ERR" "connection from $RFC_B"
	tm send-keys -t cli 'merhaba, düğüm' Enter
	wait_for_file "$BATS_TEST_TMPDIR/got" 'merhaba, düğüm'
	tm_quit
}

# bats test_tags=unix
@test "asked for a peer in a terminal, it dials zt: and a node ID of digits typed there" {
	command -v tmux >/dev/null || skip "tmux not installed"
	netns_up
	TMUX_SOCK=ztpipe-zt-$$
	export LANG=C.UTF-8 LC_ALL=C.UTF-8
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_B" -d 0
	tm new-session -d -s cli -x 120 -y 20 \
	    "ip netns exec $NS_A timeout --foreground 20 '$ZTPIPE'"
	screen_has cli 'peer address [port]:'
	tm send-keys -t cli "zt:$NODE_B $PORT" Enter
	wait_for_file "$LISTEN_ERR" "connection from $RFC_A"
	tm send-keys -t cli 'selam' Enter
	wait_for_file "$BATS_TEST_TMPDIR/got" 'selam'
	tm_quit
}

# ---- macOS interface names ----

# feth_up: namespace NS_F with feth0, named as ZeroTier names its
# interfaces on macOS, holding 10.147.18.1/24 and no RFC4193 address (so
# only its name marks it as ZeroTier), and vx0 with 10.200.9.1/24.  Dummy
# interfaces where the kernel has the driver, else a veth pair.
feth_up() {
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	NS_F=ztf$$-$BATS_TEST_NUMBER
	ip netns add "$NS_F" 2>/dev/null || skip "ip netns add fails here"
	NETNS+=("$NS_F")
	if ip -n "$NS_F" link add feth0 type dummy 2>/dev/null; then
		ip -n "$NS_F" link add vx0 type dummy
	else
		ip -n "$NS_F" link add feth0 type veth peer name vx0
	fi
	ip -n "$NS_F" addr add 10.147.18.1/24 dev feth0
	ip -n "$NS_F" addr add 10.200.9.1/24 dev vx0
	ip -n "$NS_F" link set lo up
	ip -n "$NS_F" link set feth0 up
	ip -n "$NS_F" link set vx0 up
}

# bats test_tags=unix
@test "--addrs lists a macOS-style feth0 interface by its name alone" {
	feth_up
	run --separate-stderr in_ns "$NS_F" timeout 5 "$ZTPIPE" --addrs
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "$output" = "feth0
  10.147.18.1/24" ]
}

# bats test_tags=unix
@test "--allow zt takes a peer on feth0 and turns away one on another interface" {
	feth_up
	LISTEN_OUT=$BATS_TEST_TMPDIR/got ns_listen "$NS_F" --allow zt -4 0
	run --separate-stderr in_ns "$NS_F" timeout 5 "$ZTPIPE" -s 10.200.9.1 \
	    10.200.9.1 "$PORT" <<<"from vx0"
	wait_for_file "$LISTEN_ERR" "refused 10.200.9.1 port [0-9]*: not in --allow"
	kill -0 "$LISTEN_PID"
	in_ns "$NS_F" timeout 10 "$ZTPIPE" -s 10.147.18.1 10.147.18.1 "$PORT" \
	    <<<"from feth0"
	wait_exit "$LISTEN_PID" 5
	[ "$EXIT_STATUS" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "from feth0" ]
	grep -q "connection from 10.147.18.1 port" "$LISTEN_ERR"
}
