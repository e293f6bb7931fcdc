#include "qa-error.h"

G_DEFINE_QUARK(qa - protocol - error - quark, qa_protocol_error)
G_DEFINE_QUARK(qa - system - error - quark, qa_system_error)
