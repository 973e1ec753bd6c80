/*
 * Fixture "versioned", version 2.0.0 (versioned_v1.c and versioned_v2.c
 * differ only in the version). Reload tests swap one .so for the other under
 * the same name and check which one ran: every run logs
 * `versioned version=2.0.0`, then sleeps the `sleep` param if given, so a
 * run of the old version can still be going while the new one is loaded.
 */
#define VERSIONED_VERSION "2.0.0"
#include "versioned.h"
