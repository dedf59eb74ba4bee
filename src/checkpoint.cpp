#include "catdog/checkpoint.h"
