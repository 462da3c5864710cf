/*
 * A tiny in-tree test harness: checks print file:line and both values on
 * failure and carry on; TEST_DONE() prints "N passed, N failed" and returns
 * the exit status (non-zero if any check failed). No fork, so ASan, valgrind
 * and gdb work unchanged. One binary per module, run by tests/run.sh.
 */
#ifndef STEPFS_TESTS_HARNESS_H
#define STEPFS_TESTS_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed;

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (c) {                                                           \
			harness_passed++;                                          \
		} else {                                                           \
			harness_failed++;                                          \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,    \
				__LINE__, #c);                                     \
		}                                                                  \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                         \
	do {                                                                       \
		long long ha_ = (long long)(a), hb_ = (long long)(b);             \
		if (ha_ == hb_) {                                                  \
			harness_passed++;                                          \
		} else {                                                           \
			harness_failed++;                                          \
			fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n",        \
				__FILE__, __LINE__, #a, #b, ha_, hb_);             \
		}                                                                  \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                         \
	do {                                                                       \
		const char *ha_ = (a), *hb_ = (b);                                 \
		if (ha_ && hb_ && strcmp(ha_, hb_) == 0) {                         \
			harness_passed++;                                          \
		} else {                                                           \
			harness_failed++;                                          \
			fprintf(stderr, "%s:%d: %s == %s: '%s' != '%s'\n",        \
				__FILE__, __LINE__, #a, #b, ha_ ? ha_ : "(null)", \
				hb_ ? hb_ : "(null)");                             \
		}                                                                  \
	} while (0)

#define TEST_DONE()                                                                \
	(printf("%d passed, %d failed\n", harness_passed, harness_failed),         \
	 harness_failed ? 1 : 0)

#endif
