#include "catdog/metrics.h"
