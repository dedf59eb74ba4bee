// Compiled as part of the data layer by the Layers tests: must NOT build.
#include "catdog/app/commands.h"
