#include "catdog/optimizer.h"
