/*
 * zt_adapter(), the matcher for the names Windows gives ZeroTier's
 * adapters, on its own: no emulator shows such an adapter.  Built and
 * run by test/windows.bats; prints each case that fails.
 */

#define ZTPIPE_FUZZ	/* drops main() from ztpipe.c */
#include "../ztpipe.c"

int
main(void)
{
	static const struct {
		const char *name;
		int is;
		uint64_t nwid;
	} t[] = {
		{ "ZeroTier One [8056c2e21c000001]", 1, 0x8056c2e21c000001ULL },
		{ "ZeroTier One [FFFFFFFFFFFFFFFF]", 1, 0xffffffffffffffffULL },
		{ "ZeroTier One [0000000000000000]", 1, 0 },
		{ "ZeroTier One [8056c2e21c00000]", 0, 0 },
		{ "ZeroTier One [8056c2e21c0000011]", 0, 0 },
		{ "ZeroTier One [8056c2e21c00000g]", 0, 0 },
		{ "ZeroTier One [8056c2e21c000001] 2", 0, 0 },
		{ "ZeroTier One [8056c2e21c000001", 0, 0 },
		{ "ZeroTier One 8056c2e21c000001", 0, 0 },
		{ "zerotier one [8056c2e21c000001]", 0, 0 },
		{ "ZeroTier One []", 0, 0 },
		{ "ZeroTier One [", 0, 0 },
		{ "Ethernet", 0, 0 },
		{ "", 0, 0 },
	};
	uint64_t nwid;
	int bad = 0, is;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		nwid = 0;
		is = zt_adapter(t[i].name, &nwid);
		if (is != t[i].is || (is && nwid != t[i].nwid)) {
			printf("\"%s\": %d %016" PRIx64 "\n", t[i].name, is,
			    nwid);
			bad = 1;
		}
	}
	return bad;
}
