/*
 * helper_fsops: small file-system operations that shell tools cannot do, for
 * the integration tests on real mounts (tests/it/fs_*.sh). Each operation
 * reports every failing system call, including close(), on stderr as
 * "fsops: OP: CALL 'PATH': error" and exits non-zero:
 *   1 for a failure before close(), 3 when only close() failed (so a test can
 *   tell "close() returned EIO" apart from other errors), 2 for bad usage.
 *
 *   append PATH DATA            open(O_WRONLY|O_APPEND), write DATA, close
 *   pwrite PATH OFFSET DATA     open(O_RDWR), pwrite DATA at OFFSET, close
 *   truncate PATH LENGTH        truncate(2) by path (file need not be open)
 *   ftruncate PATH LENGTH       open(O_RDWR), ftruncate, close
 *   unlinkread PATH             open, unlink, then read the whole file through
 *                               the open descriptor to stdout; fails if the
 *                               name still exists after unlink
 *   dupfork PATH DATA1 DATA2    create PATH, write DATA1, dup and close the
 *                               copy (a flush), fork: the child appends DATA2
 *                               through the inherited descriptor and closes it
 *                               (a flush), then the parent closes (last flush)
 *   write PATH SIZE [SEED]      create/truncate PATH with SIZE bytes of a
 *                               pattern derived from SEED, in 1 MiB writes
 *   writepause PATH SIZE [SEED] the same, but after the first half print
 *                               "ready" on stdout and wait for a line on stdin
 *                               before writing the rest and closing (for "the
 *                               server goes away during the upload")
 *   pattern SIZE [SEED]         the same bytes to stdout (to compare with)
 *   fsync PATH DATA             create PATH, write DATA, fsync, close
 *   readat PATH OFFSET LENGTH   pread LENGTH bytes at OFFSET to stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (1024 * 1024)

static int fail(const char *op, const char *call, const char *path, int err, int rc)
{
	fprintf(stderr, "fsops: %s: %s '%s': %s\n", op, call, path, strerror(err));
	return rc;
}

static int parse_size(const char *s, long long *ret)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno || e == s || *e || v < 0)
		return -1;
	*ret = v;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* close and map the result: 0, or 3 after printing the error */
static int close_checked(const char *op, int fd, const char *path)
{
	if (close(fd) < 0)
		return fail(op, "close", path, errno, 3);
	return 0;
}

static void fill_pattern(char *buf, size_t n, uint64_t off, uint64_t seed)
{
	size_t i;

	/* byte i of the stream depends on its offset and the seed only */
	for (i = 0; i < n; i++) {
		uint64_t x = (off + i) / 8 * 0x9E3779B97F4A7C15ULL ^ seed * 0xBF58476D1CE4E5B9ULL;

		x ^= x >> 29;
		buf[i] = (char)(x >> (8 * ((off + i) % 8)));
	}
}

static int op_append(int argc, char **argv)
{
	int fd, r;

	if (argc != 4)
		return 2;
	fd = open(argv[2], O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return fail("append", "open", argv[2], errno, 1);
	r = write_all(fd, argv[3], strlen(argv[3]));
	if (r < 0) {
		close(fd);
		return fail("append", "write", argv[2], -r, 1);
	}
	return close_checked("append", fd, argv[2]);
}

static int op_pwrite(int argc, char **argv)
{
	long long off;
	size_t n;
	ssize_t w;
	int fd;

	if (argc != 5 || parse_size(argv[3], &off) < 0)
		return 2;
	fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("pwrite", "open", argv[2], errno, 1);
	n = strlen(argv[4]);
	w = pwrite(fd, argv[4], n, (off_t)off);
	if (w < 0 || (size_t)w != n) {
		int e = w < 0 ? errno : EIO;

		close(fd);
		return fail("pwrite", "pwrite", argv[2], e, 1);
	}
	return close_checked("pwrite", fd, argv[2]);
}

static int op_truncate(int argc, char **argv, int by_fd)
{
	long long len;
	int fd;

	if (argc != 4 || parse_size(argv[3], &len) < 0)
		return 2;
	if (!by_fd) {
		if (truncate(argv[2], (off_t)len) < 0)
			return fail("truncate", "truncate", argv[2], errno, 1);
		return 0;
	}
	fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("ftruncate", "open", argv[2], errno, 1);
	if (ftruncate(fd, (off_t)len) < 0) {
		int e = errno;

		close(fd);
		return fail("ftruncate", "ftruncate", argv[2], e, 1);
	}
	return close_checked("ftruncate", fd, argv[2]);
}

static int op_unlinkread(int argc, char **argv)
{
	char *buf;
	struct stat st;
	off_t off = 0;
	int fd, rc = 0;

	if (argc != 3)
		return 2;
	buf = malloc(CHUNK);
	if (!buf)
		return 1;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail("unlinkread", "open", argv[2], errno, 1);
		goto out;
	}
	if (unlink(argv[2]) < 0) {
		rc = fail("unlinkread", "unlink", argv[2], errno, 1);
		goto out_close;
	}
	if (stat(argv[2], &st) == 0 || errno != ENOENT) {
		fprintf(stderr, "fsops: unlinkread: '%s' still exists after unlink\n", argv[2]);
		rc = 1;
		goto out_close;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, off);

		if (n < 0) {
			rc = fail("unlinkread", "pread", argv[2], errno, 1);
			goto out_close;
		}
		if (!n)
			break;
		if (write_all(1, buf, (size_t)n) < 0) {
			rc = fail("unlinkread", "write", "stdout", errno, 1);
			goto out_close;
		}
		off += n;
	}
out_close:
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = fail("unlinkread", "close", argv[2], errno, 3);
out:
	free(buf);
	return rc;
}

static int op_dupfork(int argc, char **argv)
{
	int fd, fd2, r, status;
	pid_t pid;

	if (argc != 5)
		return 2;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("dupfork", "open", argv[2], errno, 1);
	r = write_all(fd, argv[3], strlen(argv[3]));
	if (r < 0) {
		close(fd);
		return fail("dupfork", "write", argv[2], -r, 1);
	}
	fd2 = dup(fd);
	if (fd2 < 0) {
		close(fd);
		return fail("dupfork", "dup", argv[2], errno, 1);
	}
	if (close(fd2) < 0) {
		close(fd);
		return fail("dupfork", "close of the dup", argv[2], errno, 3);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return fail("dupfork", "fork", argv[2], errno, 1);
	}
	if (pid == 0) {
		/* child: append through the shared descriptor (shared offset), close */
		if (write_all(fd, argv[4], strlen(argv[4])) < 0)
			_exit(1);
		_exit(close(fd) < 0 ? 3 : 0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			close(fd);
			return fail("dupfork", "waitpid", argv[2], errno, 1);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "fsops: dupfork: child failed (status %d)\n", status);
		close(fd);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	return close_checked("dupfork", fd, argv[2]);
}

static int op_write(int argc, char **argv, int to_stdout, int pause)
{
	long long size, seed = 1;
	uint64_t off = 0;
	char *buf;
	int fd, r, rc = 0, paused = !pause;
	int base = to_stdout ? 2 : 3;

	if (argc < base + 1 || argc > base + 2 || parse_size(argv[base], &size) < 0 ||
	    (argc == base + 2 && parse_size(argv[base + 1], &seed) < 0))
		return 2;
	buf = malloc(CHUNK);
	if (!buf)
		return 1;
	if (to_stdout) {
		fd = 1;
	} else {
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = fail("write", "open", argv[2], errno, 1);
			goto out;
		}
	}
	while (off < (uint64_t)size) {
		size_t n = (uint64_t)size - off < CHUNK ? (size_t)((uint64_t)size - off) : CHUNK;

		if (!paused && off >= (uint64_t)size / 2) {
			char line[64];

			paused = 1;
			printf("ready\n");
			fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				fprintf(stderr, "fsops: writepause: no go-ahead on stdin, continuing\n");
		}
		if (!paused && off + n > (uint64_t)size / 2)
			n = (size_t)((uint64_t)size / 2 - off);
		fill_pattern(buf, n, off, (uint64_t)seed);
		r = write_all(fd, buf, n);
		if (r < 0) {
			rc = fail("write", "write", to_stdout ? "stdout" : argv[2], -r, 1);
			if (!to_stdout)
				close(fd);
			goto out;
		}
		off += n;
	}
	if (!to_stdout)
		rc = close_checked("write", fd, argv[2]);
out:
	free(buf);
	return rc;
}

static int op_fsync(int argc, char **argv)
{
	int fd, r;

	if (argc != 4)
		return 2;
	fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("fsync", "open", argv[2], errno, 1);
	r = write_all(fd, argv[3], strlen(argv[3]));
	if (r < 0) {
		close(fd);
		return fail("fsync", "write", argv[2], -r, 1);
	}
	if (fsync(fd) < 0) {
		int e = errno;

		close(fd);
		return fail("fsync", "fsync", argv[2], e, 1);
	}
	return close_checked("fsync", fd, argv[2]);
}

static int op_readat(int argc, char **argv)
{
	long long off, len;
	char *buf;
	ssize_t n;
	int fd, rc = 0;

	if (argc != 5 || parse_size(argv[3], &off) < 0 || parse_size(argv[4], &len) < 0 ||
	    len > 64 * CHUNK)
		return 2;
	buf = malloc(len ? (size_t)len : 1);
	if (!buf)
		return 1;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail("readat", "open", argv[2], errno, 1);
		goto out;
	}
	n = pread(fd, buf, (size_t)len, (off_t)off);
	if (n < 0) {
		rc = fail("readat", "pread", argv[2], errno, 1);
		close(fd);
		goto out;
	}
	if (write_all(1, buf, (size_t)n) < 0)
		rc = 1;
	if (close(fd) < 0 && !rc)
		rc = fail("readat", "close", argv[2], errno, 3);
out:
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	int rc = 2;

	if (!strcmp(op, "append"))
		rc = op_append(argc, argv);
	else if (!strcmp(op, "pwrite"))
		rc = op_pwrite(argc, argv);
	else if (!strcmp(op, "truncate"))
		rc = op_truncate(argc, argv, 0);
	else if (!strcmp(op, "ftruncate"))
		rc = op_truncate(argc, argv, 1);
	else if (!strcmp(op, "unlinkread"))
		rc = op_unlinkread(argc, argv);
	else if (!strcmp(op, "dupfork"))
		rc = op_dupfork(argc, argv);
	else if (!strcmp(op, "write"))
		rc = op_write(argc, argv, 0, 0);
	else if (!strcmp(op, "writepause"))
		rc = op_write(argc, argv, 0, 1);
	else if (!strcmp(op, "pattern"))
		rc = op_write(argc, argv, 1, 0);
	else if (!strcmp(op, "fsync"))
		rc = op_fsync(argc, argv);
	else if (!strcmp(op, "readat"))
		rc = op_readat(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: helper_fsops append|pwrite|truncate|ftruncate|unlinkread|dupfork|"
				"write|writepause|pattern|fsync|readat ARGS (see tests/helper_fsops.c)\n");
	return rc;
}
