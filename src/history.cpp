#include "catdog/history.h"
