// Compiled as part of the data layer by the Layers tests: must build.
#include "catdog/base/error.h"
#include "catdog/data/split.h"
