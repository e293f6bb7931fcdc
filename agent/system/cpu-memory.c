#include "cpu-memory.h"
