/*
 * helper_stamp: the task program of tests/bench/events.sh. Takes the wall
 * clock (CLOCK_REALTIME, ns) as its first action, reads the input (an S3
 * Records message, or {"key": ...} from the inotifywait baseline) and appends
 * "<start ns> <key>" to the file named by $STAMPS with one O_APPEND write, so
 * concurrent tasks never interleave. Prints {} on stdout.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

int main(void)
{
	struct timespec ts;
	const char *out = getenv("STAMPS"), *key;
	json_t *in, *rec;
	char line[4200];
	int fd, n;

	clock_gettime(CLOCK_REALTIME, &ts);
	in = json_loadf(stdin, JSON_DECODE_ANY, NULL);
	rec = json_array_get(json_object_get(in, "Records"), 0);
	key = rec ? json_string_value(json_object_get(json_object_get(json_object_get(rec, "s3"),
								       "object"), "key"))
		  : json_string_value(json_object_get(in, "key"));
	n = snprintf(line, sizeof(line), "%lld %s\n",
		     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, key ? key : "?");
	if (out && n > 0 && (size_t)n < sizeof(line)) {
		fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, line, (size_t)n) != n)
				n = -1;
			close(fd);
		}
	}
	json_decref(in);
	fputs("{}\n", stdout);
	return 0;
}
