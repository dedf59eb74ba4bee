#include "catdog/split.h"
