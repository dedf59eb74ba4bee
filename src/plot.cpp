#include "catdog/plot.h"
