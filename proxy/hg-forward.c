/* placeholder until the module lands */
#include <glib.h>
