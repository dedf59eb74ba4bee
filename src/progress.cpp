#include "catdog/progress.h"
