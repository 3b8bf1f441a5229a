# shellcheck shell=bash source-path=SCRIPTDIR
# lib.sh - the setup shared by throughput.sh, latency.sh and many.sh, which
# source it (it is not run on its own): messages, the ztpipe binary, tool
# detection and installation, the machine line, the temp dir with its
# cleanup trap, free ports and waiting for a listener.
#
# The sourcing script sets `here` (its own directory) before sourcing and
# TOOLS before calling bench_install or bench_tools.  Only functions and
# variables are defined here; nothing runs until a script calls it.

prog=${0##*/}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { note "$*"; exit 2; }

# uints VALUE...: true if every VALUE is a whole number (only digits).
uints() {
	local v
	for v in "$@"; do
		case $v in '' | *[!0-9]*) return 1 ;; esac
	done
}

# bench_ztpipe: unless ZTPIPE is set, use ../ztpipe, built with make when
# missing or stale.  Sets root (the checkout) and checks ZTPIPE runs.
bench_ztpipe() {
	root=$(dirname "${here:?}")
	if [ -z "${ZTPIPE:-}" ]; then
		ZTPIPE=$root/ztpipe
		make -s -C "$root" ztpipe >&2 || die "cannot build ztpipe"
	fi
	[ -x "$ZTPIPE" ] || die "no executable $ZTPIPE"
}

# --- tools -----------------------------------------------------------------

NC=nc
is_openbsd_nc() { "$1" -h 2>&1 | grep -q OpenBSD; }
have_nc() {
	if command -v nc >/dev/null 2>&1 && is_openbsd_nc nc; then NC=nc; return 0; fi
	if command -v nc.openbsd >/dev/null 2>&1; then NC=nc.openbsd; return 0; fi
	return 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# bench_install CMD...: the commands CMD... are required and the tools of
# TOOLS wanted.  As root with apt-get, install the packages of those that are
# missing; otherwise say what is missing.  Then exit 2 unless every CMD is
# there (a missing tool is skipped later by bench_tools).
bench_install() {
	local c pkgs=()
	for c in "$@"; do
		case $c in
		/usr/bin/time) [ -x /usr/bin/time ] || pkgs+=(time) ;;
		ss) have ss || pkgs+=(iproute2) ;;
		pkill | pgrep)
			case " ${pkgs[*]} " in *" procps "*) ;; *) have "$c" || pkgs+=(procps) ;; esac ;;
		timeout) have timeout || pkgs+=(coreutils) ;;
		*) have "$c" || pkgs+=("$c") ;;
		esac
	done
	case " ${TOOLS:-} " in *" nc "*) have_nc || pkgs+=(netcat-openbsd) ;; esac
	case " ${TOOLS:-} " in *" ncat "*) have ncat || pkgs+=(ncat) ;; esac
	case " ${TOOLS:-} " in *" socat "*) have socat || pkgs+=(socat) ;; esac
	if [ ${#pkgs[@]} -gt 0 ]; then
		if [ "$(id -u)" -eq 0 ] && have apt-get; then
			note "installing ${pkgs[*]}"
			export DEBIAN_FRONTEND=noninteractive
			apt-get install -y -qq "${pkgs[@]}" </dev/null >/dev/null 2>&1 ||
				{ apt-get update -qq </dev/null >/dev/null 2>&1 &&
					apt-get install -y -qq "${pkgs[@]}" </dev/null >/dev/null 2>&1; } ||
				note "apt-get install ${pkgs[*]} failed"
		else
			note "not root (or no apt-get): cannot install ${pkgs[*]}"
		fi
	fi
	for c in "$@"; do
		case $c in
		/usr/bin/time) [ -x /usr/bin/time ] || die "/usr/bin/time (package time) is required" ;;
		*) have "$c" || die "$c is required" ;;
		esac
	done
}

# bench_tools: set the array tools to the tools of TOOLS that are there,
# with a notice for each one skipped; an unknown name exits 2.
bench_tools() {
	local t
	tools=()
	for t in ${TOOLS:-}; do
		case $t in
		ztpipe) tools+=(ztpipe) ;;
		nc) if have_nc; then tools+=(nc); else note "NOTICE: skipping nc (OpenBSD netcat not available)"; fi ;;
		ncat | socat) if have "$t"; then tools+=("$t"); else note "NOTICE: skipping $t (not installed)"; fi ;;
		*) die "unknown tool $t" ;;
		esac
	done
}

# machine_line: "machine: 2 CPUs, <CPU model>, Linux <release>".
machine_line() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
	printf 'machine: %s CPUs, %s, Linux %s\n' "$(nproc)" "${model:-unknown CPU}" "$(uname -r)"
}

# versions_line: "tools: ztpipe <version>; ..." for ztpipe and the tools
# in the array tools.
versions_line() {
	local t versions
	versions="tools: ztpipe $("$ZTPIPE" -V 2>&1 | head -n 1 | sed 's/^ztpipe //')"
	for t in "${tools[@]}"; do
		case $t in
		nc) versions="$versions; $("$NC" -h 2>&1 | head -n 1)" ;;
		ncat) versions="$versions; $(ncat --version 2>&1 | head -n 1)" ;;
		socat) versions="$versions; socat $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')" ;;
		esac
	done
	printf '%s\n' "$versions"
}

# --- temp files and cleanup --------------------------------------------------

# Background processes stopped on exit (and by kill_bg): bg_pids are
# subshells, whose children get TERM first; bg_procs are single commands
# that pass TERM on themselves (timeout), so only they get it.
bg_pids=""
bg_procs=""
kill_bg() {
	local p
	for p in $bg_pids; do
		pkill -TERM -P "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $bg_procs; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $bg_pids $bg_procs; do wait "$p" 2>/dev/null || true; done
	bg_pids=""
	bg_procs=""
}
cleanup() {
	kill_bg
	rm -rf "$tmp"
}

# bench_tmp NAME: make the temp dir tmp ($TMPDIR/NAME.XXXXXX) and remove it,
# after stopping the background processes, on exit or signal.
bench_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# --- ports -------------------------------------------------------------------

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_listen PORT PID: until ss shows PORT listening (PID must stay alive).
wait_listen() {
	local i
	for i in $(seq 1 500); do
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		[ "$i" -lt 10 ] || sleep 0.01
	done
	return 1
}

# wait_ztpipe_port FILE PID: print the port ztpipe -v announced in FILE.
wait_ztpipe_port() {
	local i p
	for i in $(seq 1 500); do
		p=$(sed -n 's/.*listening on .* port \([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null)
		if [ -n "$p" ]; then printf '%s\n' "$p"; return 0; fi
		kill -0 "$2" 2>/dev/null || return 1
		[ "$i" -lt 10 ] || sleep 0.01
	done
	return 1
}

fail() {
	printf '\n*** FAILED: %s\n\n' "$*" >&2
}
