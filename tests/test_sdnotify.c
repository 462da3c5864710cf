/* Unit test for engine/sdnotify.c against a real datagram socket. */
#include "engine/sdnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/harness.h"

int main(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[64], got[256];
	ssize_t n;
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CHECK_INT_EQ(sdnotify_send("READY=1"), 0);

	snprintf(path, sizeof(path), "/tmp/stepfs-notify-%d", (int)getpid());
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK(fd >= 0);
	CHECK_INT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_INT_EQ(sdnotify_send("READY=1\nSTATUS=mounted"), 1);
	n = recv(fd, got, sizeof(got) - 1, 0);
	CHECK(n > 0);
	got[n > 0 ? n : 0] = '\0';
	CHECK_STR_EQ(got, "READY=1\nSTATUS=mounted");
	setenv("NOTIFY_SOCKET", "relative", 1);
	CHECK(sdnotify_send("READY=1") < 0);
	close(fd);
	unlink(path);
	return TEST_DONE();
}
