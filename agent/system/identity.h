/* placeholder: filled by the family's implementation */
#pragma once

#include <glib.h>
