/*
 * parts: where the parts of a multipart upload start when the size of the
 * file is not known as its upload begins (the mount sends parts while a
 * program is still writing).
 *
 * Parts 0 and 1 are P bytes; each following pair is twice the size of the
 * pair before, up to P << g; from then on every part is P << g. Few parts
 * for a large file (each part costs the server a request, a record of the
 * part and a manifest entry), yet the first one can leave after P bytes.
 * With P = 8 MiB and a cap of 64 MiB a 256 MiB file is 9 parts (8, 8, 16,
 * 16, 32, 32, 64, 64, 16) where parts of 8 MiB made 32, and S3's limit of
 * 10,000 parts is reached at 640 GB instead of 80 GB. g = 0 is parts of P
 * bytes each. The last part of a file is whatever is left of it.
 *
 * Plain values, no allocation: pass them around by pointer or copy.
 */
#ifndef STEPFS_PARTS_H
#define STEPFS_PARTS_H

#include <stdint.h>

/* S3's limit on the parts of one multipart upload */
#define PARTS_MAX 10000

struct parts {
	uint64_t P; /* the first part's size, > 0 */
	unsigned g; /* parts grow to P << g */
};

/* First part @first bytes (> 0), growing to at most @max (P << g <= max; g <= 16). */
void parts_init(struct parts *pl, uint64_t first, uint64_t max);
/* Offset of part @i (0-based). */
uint64_t parts_off(const struct parts *pl, uint64_t i);
/* Size of part @i when the file goes on past it. */
uint64_t parts_len(const struct parts *pl, uint64_t i);
/* The part that holds byte @off. */
uint64_t parts_index(const struct parts *pl, uint64_t off);
/* Bytes of part @i in a file of @size bytes (the last part is what is left). */
uint64_t parts_size(const struct parts *pl, uint64_t i, uint64_t size);
/* Parts of a file of @size bytes (1 for an empty file). */
uint64_t parts_count(const struct parts *pl, uint64_t size);
/* 1 if both lay parts out the same way. */
int parts_same(const struct parts *a, const struct parts *b);

#endif
