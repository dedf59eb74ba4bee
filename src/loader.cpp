#include "catdog/loader.h"
