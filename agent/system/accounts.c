#include "accounts.h"
