/*
 * Unit tests for engine/log.c: one message is one line, whatever the user
 * strings in it hold (an object key with a newline cannot forge a second
 * line or a journald "<N>" priority), UTF-8 passes through, long messages are
 * cut but still end in a newline.
 */
#include "engine/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/harness.h"

static char path[] = "/tmp/stepfs-test-log-XXXXXX";
static char out[16384];

/* Run one log call with stderr sent to a file; leave what it wrote in out[]. */
#define CAPTURE(call)                                                          \
	do {                                                                   \
		int fd_ = mkstemp(path), save_ = dup(STDERR_FILENO);           \
		ssize_t n_;                                                    \
		dup2(fd_, STDERR_FILENO);                                      \
		call;                                                          \
		dup2(save_, STDERR_FILENO);                                    \
		close(save_);                                                  \
		n_ = pread(fd_, out, sizeof(out) - 1, 0);                      \
		out[n_ > 0 ? n_ : 0] = '\0';                                   \
		close(fd_);                                                    \
		unlink(path);                                                  \
		memcpy(path + sizeof(path) - 7, "XXXXXX", 6);                  \
	} while (0)

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int main(void)
{
	const char *key = "in/a\nstepfs: fake line\r\n<0>panic\x1b[31m\x7f\t.csv";
	char big[6000];

	log_set_level(LOG_DEBUG);
	CAPTURE(log_err("cannot upload '%s'", key));
	CHECK_INT_EQ(count_lines(out), 1);
	CHECK_STR_EQ(out, "stepfs: cannot upload 'in/a\\nstepfs: fake line\\r\\n<0>panic"
			  "\\x1b[31m\\x7f\\t.csv'\n");

	/* the strerror suffix of log_errno stays on the same line */
	CAPTURE(CHECK_INT_EQ(log_errno(-ENOENT, "open '%s'", "x\ny"), -ENOENT));
	CHECK_STR_EQ(out, "stepfs: open 'x\\ny': No such file or directory\n");

	/* journald mode: the only "<N>" is the real priority at the start */
	log_set_journal(1);
	CAPTURE(log_warn("key '%s'", "a\n<0>b"));
	CHECK_STR_EQ(out, "<4>key 'a\\n<0>b'\n");
	log_set_journal(0);

	/* UTF-8 is not escaped */
	CAPTURE(log_info("key '%s'", "caf\xc3\xa9 \xe2\x82\xac"));
	CHECK_STR_EQ(out, "stepfs: key 'caf\xc3\xa9 \xe2\x82\xac'\n");

	/* a long message of newlines is cut, escaped, and still one line */
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CAPTURE(log_err("%s", big));
	CHECK_INT_EQ(count_lines(out), 1);
	CHECK(strlen(out) <= 4096);
	CHECK(strlen(out) > 4000);
	CHECK(out[strlen(out) - 1] == '\n');
	CHECK(strstr(out, "\\n\\n\\n") != NULL);

	/* below the level nothing is written */
	log_set_level(LOG_ERR);
	CAPTURE(log_info("quiet"));
	CHECK_STR_EQ(out, "");
	return TEST_DONE();
}
