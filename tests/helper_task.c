/*
 * helper_task: a task program for the spawn and taskrun tests, the Lambda
 * stand-ins of the conformance runner and the benchmark. argv[1] picks the
 * behaviour; see usage() below. Reads JSON on stdin and writes JSON on
 * stdout like any task program.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* a task program exits right after its work: leak checks would only add noise */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

static char *read_all(size_t *ret_len)
{
	size_t len = 0, cap = 65536;
	char *b = malloc(cap + 1);
	ssize_t n;

	if (!b)
		exit(70);
	while ((n = read(0, b + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
			if (!b)
				exit(70);
		}
	}
	b[len] = '\0';
	*ret_len = len;
	return b;
}

static json_t *read_input(void)
{
	size_t len;
	char *s = read_all(&len);
	json_t *v = json_loadb(s, len, JSON_DECODE_ANY, NULL);

	free(s);
	return v ? v : json_null();
}

static void put(json_t *v)
{
	/* Python's json.dumps spacing, like the Lambda functions this stands in for */
	char *s = json_dumps(v, JSON_ENCODE_ANY);

	fputs(s, stdout);
	fflush(stdout);
	free(s);
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void lambda_error(const char *type, const char *msg, const char *trace)
{
	json_t *o = json_pack("{s:s,s:s,s:[s]}", "errorMessage", msg, "errorType", type,
			      "stackTrace", trace);

	put(o);
	exit(1);
}

static json_t *status_field(const char *name)
{
	char line[512];
	FILE *f = fopen("/proc/self/status", "r");
	json_t *v = json_null();

	while (f && fgets(line, sizeof(line), f)) {
		size_t n = strlen(name);

		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			char *p = line + n + 1;

			while (*p == ' ' || *p == '\t')
				p++;
			p[strcspn(p, "\n")] = '\0';
			v = json_string(p);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

/* Everything a test wants to know about how it was started. */
static int report(void)
{
	json_t *o = json_object(), *env = json_object(), *fds = json_array(), *groups = json_array();
	gid_t gl[64];
	struct rlimit rl;
	struct dirent *de;
	char cwd[4096], **e;
	DIR *d;
	int i, ng;

	json_decref(read_input());
	for (e = environ; *e; e++) {
		char *eq = strchr(*e, '=');

		if (eq) {
			char *k = strndup(*e, (size_t)(eq - *e));

			json_object_set_new(env, k, json_string(eq + 1));
			free(k);
		}
	}
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (fd >= 3) {
			char path[64], target[512];
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			n = readlink(path, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			json_array_append_new(fds, json_pack("{s:i,s:s}", "fd", fd, "target", target));
		}
	}
	if (d)
		closedir(d);
	ng = getgroups(64, gl);
	for (i = 0; i < ng; i++)
		json_array_append_new(groups, json_integer(gl[i]));
	getrlimit(RLIMIT_NOFILE, &rl);
	json_object_set_new(o, "env", env);
	json_object_set_new(o, "fds", fds);
	json_object_set_new(o, "groups", groups);
	json_object_set_new(o, "uid", json_integer(getuid()));
	json_object_set_new(o, "euid", json_integer(geteuid()));
	json_object_set_new(o, "gid", json_integer(getgid()));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "pgid", json_integer(getpgid(0)));
	json_object_set_new(o, "cwd", json_string(getcwd(cwd, sizeof(cwd)) ? cwd : ""));
	json_object_set_new(o, "nofile", json_integer((json_int_t)rl.rlim_cur));
	getrlimit(RLIMIT_CPU, &rl);
	json_object_set_new(o, "cpu", json_integer((json_int_t)rl.rlim_cur));
	getrlimit(RLIMIT_AS, &rl);
	json_object_set_new(o, "as", json_integer((json_int_t)rl.rlim_cur));
	getrlimit(RLIMIT_NPROC, &rl);
	json_object_set_new(o, "nproc", json_integer((json_int_t)rl.rlim_cur));
	json_object_set_new(o, "nice", json_integer(getpriority(PRIO_PROCESS, 0)));
	json_object_set_new(o, "SigBlk", status_field("SigBlk"));
	json_object_set_new(o, "SigIgn", status_field("SigIgn"));
	json_object_set_new(o, "argv1", json_string("report"));
	put(o);
	return 0;
}

/* Long-lived worker: {"input": X, "context": {...}} per line -> {"output": X} per line. */
static int worker(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *req = json_loadb(line, (size_t)n, 0, NULL);
		json_t *in = json_object_get(req, "input");
		json_t *ctx = json_object_get(req, "context");
		json_t *rep;

		if (json_is_object(in) && json_object_get(in, "die"))
			exit(3);
		if (json_is_object(in) && json_object_get(in, "sleep_ms"))
			msleep((long)json_integer_value(json_object_get(in, "sleep_ms")));
		if (json_is_object(in) && json_object_get(in, "fail"))
			rep = json_pack("{s:s,s:s}", "error", "Worker.Failed", "cause",
					json_string_value(json_object_get(in, "fail")));
		else if (json_is_object(in) && json_object_get(in, "ctx"))
			rep = json_pack("{s:O}", "output", ctx);
		else if (json_is_object(in) && json_object_get(in, "pid"))
			rep = json_pack("{s:{s:i}}", "output", "pid", (int)getpid());
		else
			rep = json_pack("{s:O}", "output", in ? in : json_null());
		{
			/* one write per reply line */
			char *txt = json_dumps(rep, JSON_ENCODE_ANY | JSON_COMPACT);

			printf("%s\n", txt);
			fflush(stdout);
			free(txt);
		}
		json_decref(rep);
		json_decref(req);
	}
	free(line);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: helper_task MODE [ARGS]\n"
		"  echo | raw | report | worker | noread | flood | junk | big BYTES\n"
		"  exit N | signal N | sleep SECONDS | ignoreterm SECONDS\n"
		"  flaky COUNTERFILE SUCCEED_ON | heartbeat COUNT INTERVAL_MS\n"
		"  fork | forksetsid | error TYPE MESSAGE | errorcause ERROR CAUSE\n"
		"  lambda-id | lambda-raise | lambda-raise-custom | lambda-bytes-str |\n"
		"  lambda-large | lambda-echo | lambda-sleep SECONDS\n");
	exit(64);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	size_t len;
	char *s;

	signal(SIGPIPE, SIG_DFL);
	if (strcmp(mode, "echo") == 0 || strcmp(mode, "lambda-id") == 0) {
		json_t *v = read_input();

		put(v);
		return 0;
	}
	if (strcmp(mode, "raw") == 0) {
		s = read_all(&len);
		fwrite(s, 1, len, stdout);
		return 0;
	}
	if (strcmp(mode, "report") == 0)
		return report();
	if (strcmp(mode, "worker") == 0)
		return worker();
	if (strcmp(mode, "noread") == 0) {
		puts("{\"ok\": true}");
		return 0;
	}
	if (strcmp(mode, "bigin") == 0) {
		s = read_all(&len);
		printf("{\"len\": %zu}\n", len);
		return 0;
	}
	if (strcmp(mode, "flood") == 0) {
		static char chunk[65536];

		memset(chunk, 'a', sizeof(chunk));
		for (;;)
			if (write(1, chunk, sizeof(chunk)) < 0)
				return 1;
	}
	if (strcmp(mode, "junk") == 0) {
		static const char junk[] = "\x89PNG\r\n\x1a\n\x00\xff\xfe binary \x01\x02";

		fwrite(junk, 1, sizeof(junk) - 1, stdout);
		return 0;
	}
	if (strcmp(mode, "big") == 0 && argc > 2) {
		long n = atol(argv[2]);

		json_decref(read_input());
		putchar('"');
		while (n-- > 2)
			putchar('x');
		putchar('"');
		return 0;
	}
	if (strcmp(mode, "exit") == 0 && argc > 2) {
		json_decref(read_input());
		fprintf(stderr, "something went wrong\nexiting with %s\n", argv[2]);
		return atoi(argv[2]);
	}
	if (strcmp(mode, "signal") == 0 && argc > 2) {
		json_decref(read_input());
		fprintf(stderr, "about to die\n");
		fflush(stderr);
		raise(atoi(argv[2]));
		return 0;
	}
	if (strcmp(mode, "sleep") == 0 && argc > 2) {
		json_decref(read_input());
		msleep((long)(atof(argv[2]) * 1000));
		puts("{}");
		return 0;
	}
	if (strcmp(mode, "ignoreterm") == 0 && argc > 2) {
		signal(SIGTERM, SIG_IGN);
		json_decref(read_input());
		msleep((long)(atof(argv[2]) * 1000));
		puts("{}");
		return 0;
	}
	if (strcmp(mode, "flaky") == 0 && argc > 3) {
		FILE *f = fopen(argv[2], "r+");
		int n = 0;

		json_decref(read_input());
		if (!f)
			f = fopen(argv[2], "w+");
		if (!f || fscanf(f, "%d", &n) < 0)
			n = 0;
		n++;
		rewind(f);
		fprintf(f, "%d\n", n);
		fclose(f);
		if (n < atoi(argv[3]))
			lambda_error("Flaky.NotYet", "not yet", "attempt");
		printf("{\"attempt\": %d, \"retry_count\": \"%s\"}\n", n,
		       getenv("STEPFS_RETRY_COUNT") ? getenv("STEPFS_RETRY_COUNT") : "");
		return 0;
	}
	if (strcmp(mode, "heartbeat") == 0 && argc > 3) {
		int i, count = atoi(argv[2]);
		const char *fd = getenv("STEPFS_HEARTBEAT_FD");

		json_decref(read_input());
		for (i = 0; i < count; i++) {
			msleep(atol(argv[3]));
			if (fd)
				(void)!write(atoi(fd), "\n", 1);
		}
		puts("{\"beats\": true}");
		return 0;
	}
	if (strcmp(mode, "fork") == 0 || strcmp(mode, "forksetsid") == 0) {
		pid_t pid;

		json_decref(read_input());
		pid = fork();
		if (pid == 0) {
			if (strcmp(mode, "forksetsid") == 0)
				setsid();
			/* holds stdout and stderr open (long past the runner's exit_grace) */
			msleep(5000);
			_exit(0);
		}
		msleep(100); /* let the child setsid() first */
		puts("{\"forked\": true}");
		return 0;
	}
	if (strcmp(mode, "error") == 0 && argc > 3) {
		json_decref(read_input());
		lambda_error(argv[2], argv[3], "trace");
	}
	if (strcmp(mode, "errorcause") == 0 && argc > 3) {
		json_t *o = json_pack("{s:s,s:s}", "Error", argv[2], "Cause", argv[3]);

		json_decref(read_input());
		put(o);
		return 2;
	}
	/* stand-ins for the trivial Lambda functions of the conformance cases */
	if (strcmp(mode, "lambda-raise") == 0) {
		json_decref(read_input());
		lambda_error("Exception", "Some exception was raised.",
			     "  File \"/var/task/handler.py\", line 2, in handler\n"
			     "    raise Exception(\"Some exception was raised.\")\n");
	}
	if (strcmp(mode, "lambda-raise-custom") == 0) {
		json_decref(read_input());
		lambda_error("CustomException", "",
			     "  File \"/var/task/handler.py\", line 9, in handler\n"
			     "    raise CustomException()\n");
	}
	if (strcmp(mode, "lambda-bytes-str") == 0) {
		json_decref(read_input());
		fputs("\"HelloWorld!\"", stdout);
		return 0;
	}
	if (strcmp(mode, "lambda-echo") == 0) {
		json_decref(read_input());
		fputs("{\"Return\": \"HelloWorld\"}", stdout);
		return 0;
	}
	if (strcmp(mode, "lambda-large") == 0) {
		long n = 300000;

		json_decref(read_input());
		putchar('"');
		while (n--)
			putchar('a');
		putchar('"');
		return 0;
	}
	if (strcmp(mode, "lambda-sleep") == 0 && argc > 2) {
		json_t *v = read_input();

		msleep((long)(atof(argv[2]) * 1000));
		put(v);
		return 0;
	}
	usage();
	return 64;
}
