/* Error domains of the agent, one per layer. Which QGA error class a failure is reported with is
 * decided in one place only: qa_reply_error_class() in protocol/reply.c. */
#pragma once

#include <glib.h>

#define QA_PROTOCOL_ERROR (qa_protocol_error_quark())
#define QA_SYSTEM_ERROR (qa_system_error_quark())

typedef enum {
	QA_PROTOCOL_ERROR_PARSE,	     /* not JSON, or not UTF-8 */
	QA_PROTOCOL_ERROR_INVALID_REQUEST,   /* JSON, but not a request object */
	QA_PROTOCOL_ERROR_INVALID_ARGUMENT,  /* arguments do not match the schema */
	QA_PROTOCOL_ERROR_COMMAND_NOT_FOUND, /* no such command */
	QA_PROTOCOL_ERROR_COMMAND_DISABLED,  /* disabled by --block-rpcs/--allow-rpcs */
	QA_PROTOCOL_ERROR_TOO_LARGE,	     /* request over the size limit */
	QA_PROTOCOL_ERROR_TOO_DEEP,	     /* request nested over the depth limit */
} QaProtocolError;

typedef enum {
	QA_SYSTEM_ERROR_NOT_FOUND,   /* no such mountpoint or device */
	QA_SYSTEM_ERROR_PARSE,	     /* /proc or /sys content not as expected */
	QA_SYSTEM_ERROR_UNSUPPORTED, /* filesystem or bus the agent cannot handle */
	QA_SYSTEM_ERROR_BUSY,	     /* already frozen, hook or freeze in progress */
	QA_SYSTEM_ERROR_FAILED,	     /* a system call failed; the errno text is in the message */
	QA_SYSTEM_ERROR_INVALID,     /* a request the system state does not allow */
} QaSystemError;

GQuark
qa_protocol_error_quark(void);
GQuark
qa_system_error_quark(void);
