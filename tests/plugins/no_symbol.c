/*
 * Fixture "no_symbol": a valid shared object that exports a function but no
 * `jh_plugin_descriptor`. The loader must refuse it, naming the symbol.
 */
#include <jobhost/plugin.h>

__attribute__((visibility("default"))) int no_symbol_entry(void);

__attribute__((visibility("default"))) int no_symbol_entry(void)
{
    return 0;
}
