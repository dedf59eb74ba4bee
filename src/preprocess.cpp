#include "catdog/preprocess.h"
