/* Unit tests for engine/buf.c: growth, the hard cap, detach. */
#include "engine/buf.h"

#include <errno.h>
#include <stdlib.h>

#include "tests/harness.h"

int main(void)
{
	struct buf b;
	char *s;
	size_t n;
	int i;

	buf_init(&b, 16);
	CHECK_STR_EQ(b.data, "");
	CHECK_INT_EQ(buf_puts(&b, "hello"), 0);
	CHECK_INT_EQ(buf_printf(&b, " %d", 42), 0);
	CHECK_STR_EQ(b.data, "hello 42");
	CHECK_INT_EQ(b.len, 8);
	CHECK_INT_EQ(buf_puts(&b, "123456789"), -E2BIG);
	CHECK_STR_EQ(b.data, "hello 42");
	CHECK_INT_EQ(buf_puts(&b, "12345678"), 0);
	CHECK_INT_EQ(b.len, 16);
	CHECK_INT_EQ(buf_putc(&b, 'x'), -E2BIG);
	s = buf_detach(&b, &n);
	CHECK_STR_EQ(s, "hello 4212345678");
	CHECK_INT_EQ(n, 16);
	CHECK_INT_EQ(b.len, 0);
	free(s);

	buf_init(&b, BUF_CAP_DEFAULT);
	for (i = 0; i < 10000; i++)
		CHECK_INT_EQ(buf_putc(&b, 'a'), 0);
	CHECK_INT_EQ(b.len, 10000);
	buf_reset(&b);
	CHECK_STR_EQ(b.data, "");
	buf_release(&b);
	buf_release(&b);
	s = buf_detach(&b, NULL);
	CHECK_STR_EQ(s, "");
	free(s);
	return TEST_DONE();
}
