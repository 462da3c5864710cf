/*
 * Multipart layouts of growing parts: see fs/parts.h.
 *
 * Pair m (parts 2m and 2m + 1, m < g) holds parts of P << m bytes and
 * starts at 2P(2^m - 1); past the g growing pairs every part is P << g.
 */
#include "fs/parts.h"

void parts_init(struct parts *pl, uint64_t first, uint64_t max)
{
	pl->P = first ? first : 1;
	pl->g = 0;
	while (pl->g < 16 && max / 2 >= pl->P << pl->g)
		pl->g++;
}

/* Where the fixed-size parts begin: after the g growing pairs. */
static uint64_t grown_at(const struct parts *pl)
{
	return 2 * pl->P * ((UINT64_C(1) << pl->g) - 1);
}

uint64_t parts_off(const struct parts *pl, uint64_t i)
{
	uint64_t m = i / 2;

	if (m < pl->g)
		return 2 * pl->P * ((UINT64_C(1) << m) - 1) + (i % 2) * (pl->P << m);
	return grown_at(pl) + (i - 2 * (uint64_t)pl->g) * (pl->P << pl->g);
}

uint64_t parts_len(const struct parts *pl, uint64_t i)
{
	uint64_t m = i / 2;

	return pl->P << (m < pl->g ? m : pl->g);
}

uint64_t parts_index(const struct parts *pl, uint64_t off)
{
	unsigned m;

	if (off >= grown_at(pl))
		return 2 * (uint64_t)pl->g + (off - grown_at(pl)) / (pl->P << pl->g);
	for (m = 0; off >= 2 * pl->P * ((UINT64_C(2) << m) - 1); m++)
		;
	return 2 * (uint64_t)m + (off - 2 * pl->P * ((UINT64_C(1) << m) - 1)) / (pl->P << m);
}

uint64_t parts_size(const struct parts *pl, uint64_t i, uint64_t size)
{
	uint64_t off = parts_off(pl, i), len = parts_len(pl, i);

	return off >= size ? 0 : size - off < len ? size - off : len;
}

uint64_t parts_count(const struct parts *pl, uint64_t size)
{
	return size ? parts_index(pl, size - 1) + 1 : 1;
}

int parts_same(const struct parts *a, const struct parts *b)
{
	return a->P == b->P && a->g == b->g;
}
