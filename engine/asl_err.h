/*
 * struct asl_err: an ASL error as it travels through the engine: the error
 * name (States.Runtime, States.TaskFailed, a task's own errorType ...) and
 * the cause text, exactly as AWS would report them. Caller-owned; written only
 * on failure.
 */
#ifndef STEPFS_ASL_ERR_H
#define STEPFS_ASL_ERR_H

#include <stddef.h>

#define ASL_ERROR_MAX 256
#define ASL_CAUSE_MAX 4096

struct asl_err {
	char error[ASL_ERROR_MAX];
	char cause[ASL_CAUSE_MAX];
};

/* Fill @e (if non-NULL) and return -1, for `return asl_err_set(e, ...)`. */
int asl_err_set(struct asl_err *e, const char *error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The error names of the ASL spec and AWS. */
#define ASL_E_ALL "States.ALL"
#define ASL_E_RUNTIME "States.Runtime"
#define ASL_E_TIMEOUT "States.Timeout"
#define ASL_E_HEARTBEAT "States.HeartbeatTimeout"
#define ASL_E_TASKFAILED "States.TaskFailed"
#define ASL_E_PERMISSIONS "States.Permissions"
#define ASL_E_RESULTPATH "States.ResultPathMatchFailure"
#define ASL_E_PARAMPATH "States.ParameterPathFailure"
#define ASL_E_QUERYEVAL "States.QueryEvaluationError"
#define ASL_E_BRANCHFAILED "States.BranchFailed"
#define ASL_E_NOCHOICE "States.NoChoiceMatched"
#define ASL_E_INTRINSIC "States.IntrinsicFailure"
#define ASL_E_TOLERATED "States.ExceedToleratedFailureThreshold"
#define ASL_E_ITEMREADER "States.ItemReaderFailed"
#define ASL_E_RESULTWRITER "States.ResultWriterFailed"
#define ASL_E_DATALIMIT "States.DataLimitExceeded"

#endif
