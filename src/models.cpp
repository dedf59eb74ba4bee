#include "catdog/models.h"
