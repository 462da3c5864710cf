/* asl_err: filling the error name and cause of an ASL failure. */
#include "engine/asl_err.h"

#include <stdarg.h>
#include <stdio.h>

int asl_err_set(struct asl_err *e, const char *error, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	snprintf(e->error, sizeof(e->error), "%s", error);
	va_start(ap, fmt);
	vsnprintf(e->cause, sizeof(e->cause), fmt, ap);
	va_end(ap);
	return -1;
}
