/*
 * libFuzzer harness for ztpipe's pure functions: port, range, hex and
 * time parsing, -k line framing, chat sanitizing, CIDR matching and ZeroTier
 * address math, each checked against what its comment promises.
 * "make fuzz" builds ./ztpipe-fuzz and runs it for 30 s; for longer:
 *	make fuzz FUZZ_SECONDS=600
 * A crash lands in fuzz-artifacts/; copy it into test/fuzz-regress/ and
 * every later run replays it first.  Nothing here exits or touches the
 * network.
 */

#ifndef ZTPIPE_FUZZ
#define ZTPIPE_FUZZ	/* drops main() from ztpipe.c */
#endif
#include "../ztpipe.c"

#include <assert.h>
#include <stdint.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A port: 1-65535 (0 too when allowed), the digits' value, or -1. */
static void
check_port(const char *s)
{
	int p0 = parse_port(s, 0), p1 = parse_port(s, 1);

	assert(is_number(s) == (*s && strspn(s, "0123456789") == strlen(s)));
	assert(p0 >= -1 && p0 <= 65535 && p0 != 0);
	assert(p1 >= -1 && p1 <= 65535);
	if (is_number(s)) {
		long v = strlen(s) <= 5 ? strtol(s, NULL, 10) : -1;

		assert(p1 == (v > 65535 ? -1 : v));
		assert(p0 == (v == 0 ? -1 : p1));
	}
}

/*
 * line_span: the first byte says final and first, the second the
 * largest piece; the rest is the queue, copied to a block of its exact
 * size so that ASan sees any read past it.
 */
static void
check_line_span(const uint8_t *data, size_t size)
{
	int final, first;
	size_t max, len, n, seen;
	char *p;

	if (size < 2)
		return;
	final = data[0] & 1;
	first = data[0] & 2;
	max = 1 + data[1];
	len = size - 2;
	seen = len < max ? len : max;
	if (!(p = malloc(len ? len : 1)))
		return;
	memcpy(p, data + 2, len);
	n = line_span(p, len, final, max, first);
	assert(n <= seen);
	/* A piece ends a line, or is all there is to see... */
	assert(n == 0 || n == seen || p[n - 1] == '\n');
	/* ...and a peer gone or a full piece always yields one, or the
	 * route stalls. */
	if ((final && len > 0) || len >= max)
		assert(n > 0);
	/* Nothing: no newline in sight. */
	if (n == 0)
		assert(memchr(p, '\n', seen) == NULL);
	/* The first line only, or every whole line. */
	if (n > 0 && p[n - 1] == '\n' && first)
		assert(memchr(p, '\n', n - 1) == NULL);
	if (n > 0 && p[n - 1] == '\n' && !first)
		assert(memchr(p + n, '\n', seen - n) == NULL);
	free(p);
}

/*
 * chat_clean: nothing a terminal obeys and nothing invisible survives,
 * and it is valid UTF-8.  out is exactly 3 * size, the room its comment
 * asks for, so ASan sees a byte written past it.
 */
static void
check_chat_clean(const uint8_t *data, size_t size)
{
	char *out = malloc(size ? 3 * size : 1);
	unsigned long cp;
	size_t n, i, k;

	if (!out)
		return;
	n = chat_clean((const char *)data, size, out);
	assert(n <= 3 * size);
	for (i = 0; i < n; i += k) {
		unsigned char c = out[i];

		assert(c >= 0x20 || c == '\t');
		assert(c != 0x7f);
		k = utf8_len((const unsigned char *)out + i, n - i, &cp);
		assert(k >= 1 && k <= 4 && i + k <= n);
		assert(!invisible(cp));
	}
	free(out);
}

/* cidr_parse: a prefix that parses holds its own address. */
static void
check_cidr(const char *s)
{
	struct cidr c, a;

	if (cidr_parse(s, &c) < 0)
		return;
	assert(c.family == AF_INET || c.family == AF_INET6);
	assert(c.bits >= 0 && c.bits <= (c.family == AF_INET ? 32 : 128));
	a = c;
	a.bits = c.family == AF_INET ? 32 : 128;
	assert(cidr_match(&c, &a));
}

/* Node IDs, ranges, and the ZeroTier address round trip. */
static void
check_ids(const char *s, const uint8_t *data, size_t size)
{
	uint64_t v, nwid = 0, node = 0, n2, w2;
	unsigned char a[16];
	char back[16];
	int lo, hi;

	if (parse_hex(s, 10, &v) == 0) {
		assert(v < (uint64_t)1 << 40);
		snprintf(back, sizeof(back), "%010" PRIx64, v);
		assert(strcasecmp(back, s) == 0);
	}
	if (parse_range(s, &lo, &hi) == 0)
		assert(lo >= 1 && lo <= hi && hi <= 65535);
	if (size < 13)
		return;
	for (int i = 0; i < 8; i++)
		nwid = nwid << 8 | data[i];
	for (int i = 8; i < 13; i++)
		node = node << 8 | data[i];
	zt_rfc4193(nwid, node, a);
	assert(zt_ids(a, &w2, &n2) && w2 == nwid && n2 == node);
	zt_6plane(nwid, node, a);
	assert(a[0] == 0xfc && a[15] == 1 && !zt_ids(a, &w2, &n2));
}

/*
 * A time: -1 or 1..INT_MAX ms (0 too: "0" is well formed, refused by
 * number_opt); digits alone are seconds; what ms_text says of it parses
 * back to it, its space left out.  Edits of a name to itself: none.
 */
static void
check_time(const char *s)
{
	long long v = parse_ms(s);
	const char *t;
	char back[32];
	size_t n = 0, len = strlen(s);

	assert(v >= -1 && v <= INT_MAX);
	if (is_number(s) && len <= 6)
		assert(v == strtol(s, NULL, 10) * 1000);
	if (v > 0) {
		for (t = ms_text((int)v); *t && n < sizeof(back) - 1; t++)
			if (*t != ' ')
				back[n++] = *t;
		back[n] = '\0';
		assert(parse_ms(back) == v);
	}
	assert(edits(s, len, s) == (len <= 32 ? 0 : 33));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	/* As argv would give it: a string that ends at the first NUL. */
	if (!(s = malloc(size + 1)))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_port(s);
	check_cidr(s);
	check_ids(s, data, size);
	check_time(s);
	free(s);

	check_line_span(data, size);
	check_chat_clean(data, size);
	return 0;
}
