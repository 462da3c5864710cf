/* Unit tests of fs/parts.c: growing multipart layouts. */
#include "fs/parts.h"
#include "tests/harness.h"

#define MiB (UINT64_C(1) << 20)

/* every byte offset maps to the part whose range holds it, parts tile the line */
static void check_tiling(const struct parts *pl, uint64_t nparts)
{
	uint64_t i, bad = 0;

	for (i = 0; i < nparts; i++) {
		uint64_t off = parts_off(pl, i), len = parts_len(pl, i);

		if (parts_off(pl, i + 1) != off + len || parts_index(pl, off) != i ||
		    parts_index(pl, off + len - 1) != i || parts_index(pl, off + len / 2) != i)
			bad++;
	}
	CHECK_INT_EQ(0, (long long)bad);
}

int main(void)
{
	struct parts pl, fixed;
	static const uint64_t want[] = { 8, 8, 16, 16, 32, 32, 64, 64, 64, 64 };
	uint64_t i, sum = 0;

	parts_init(&pl, 8 * MiB, 64 * MiB);
	CHECK_INT_EQ(3, pl.g);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_INT_EQ((long long)(want[i] * MiB), (long long)parts_len(&pl, i));
		CHECK_INT_EQ((long long)(sum * MiB), (long long)parts_off(&pl, i));
		sum += want[i];
	}
	/* 256 MiB: 8+8+16+16+32+32+64+64 = 240, then a last part of 16 */
	CHECK_INT_EQ(9, (long long)parts_count(&pl, 256 * MiB));
	CHECK_INT_EQ(8, (long long)parts_count(&pl, 240 * MiB));
	CHECK_INT_EQ(9, (long long)parts_count(&pl, 240 * MiB + 1));
	CHECK_INT_EQ(1, (long long)parts_count(&pl, 0));
	CHECK_INT_EQ(1, (long long)parts_count(&pl, 1));
	CHECK_INT_EQ(1, (long long)parts_count(&pl, 8 * MiB));
	CHECK_INT_EQ(2, (long long)parts_count(&pl, 8 * MiB + 1));
	CHECK_INT_EQ(0, (long long)parts_index(&pl, 0));
	CHECK_INT_EQ(1, (long long)parts_index(&pl, 8 * MiB));
	CHECK_INT_EQ(2, (long long)parts_index(&pl, 16 * MiB));
	CHECK_INT_EQ(7, (long long)parts_index(&pl, 239 * MiB));
	CHECK_INT_EQ(8, (long long)parts_index(&pl, 240 * MiB));
	check_tiling(&pl, 20000);
	/* bytes of each part of a 250 MiB file: 8, 8, 16, 16, 32, 32, 64, 64, then 10 and none */
	CHECK_INT_EQ((long long)(8 * MiB), (long long)parts_size(&pl, 0, 250 * MiB));
	CHECK_INT_EQ((long long)(64 * MiB), (long long)parts_size(&pl, 7, 250 * MiB));
	CHECK_INT_EQ((long long)(10 * MiB), (long long)parts_size(&pl, 8, 250 * MiB));
	CHECK_INT_EQ(0, (long long)parts_size(&pl, 9, 250 * MiB));
	CHECK_INT_EQ(5, (long long)parts_size(&pl, 0, 5));
	/* 10,000 parts hold 640 GB minus the smaller first ones */
	CHECK(parts_off(&pl, 10000) > 600ull * 1000 * MiB);

	/* a cap that is not P times a power of two rounds down; below P: fixed */
	parts_init(&pl, 5 * MiB, 64 * MiB);
	CHECK_INT_EQ(3, pl.g); /* 5, 10, 20, 40 */
	CHECK_INT_EQ((long long)(40 * MiB), (long long)parts_len(&pl, 100));
	check_tiling(&pl, 1000);
	parts_init(&fixed, 5 * MiB, 5 * MiB);
	CHECK_INT_EQ(0, fixed.g);
	parts_init(&fixed, 5 * MiB, 1);
	CHECK_INT_EQ(0, fixed.g);
	CHECK_INT_EQ((long long)(15 * MiB), (long long)parts_off(&fixed, 3));
	CHECK_INT_EQ(5, (long long)parts_count(&fixed, 23 * MiB));
	check_tiling(&fixed, 1000);
	CHECK(!parts_same(&pl, &fixed));
	CHECK(parts_same(&fixed, &fixed));

	/* small sizes, odd first sizes, the largest growth */
	parts_init(&pl, 1, 1ull << 40);
	CHECK_INT_EQ(16, pl.g);
	check_tiling(&pl, 100);
	CHECK_INT_EQ(6, (long long)parts_count(&pl, 12)); /* 1,1,2,2,4,4 = 14 */
	parts_init(&pl, 7, 100);
	CHECK_INT_EQ(3, pl.g); /* 7, 14, 28, 56 */
	check_tiling(&pl, 500);
	return TEST_DONE();
}
