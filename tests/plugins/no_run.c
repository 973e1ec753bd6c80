/*
 * Fixture "no_run": a descriptor with the right ABI but no run() entry
 * point. The loader must refuse it.
 */
#include <jobhost/plugin.h>

JH_PLUGIN(.name = "no_run", .version = "1.0.0", .description = "test fixture: run is NULL",
          .run = NULL);
