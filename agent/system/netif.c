#include "netif.h"
