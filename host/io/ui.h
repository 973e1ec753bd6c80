/*
 * ui — the status page: GET / (the page) and GET /ui/NAME (its script,
 * stylesheet and icon), served from the files compiled into the binary
 * (io/ui_assets.h). The page reads the jobs API and the live feed
 * (io/events.h) from the same origin; a Content-Security-Policy lets it
 * load nothing from anywhere else, and it runs no inline script.
 */
#ifndef JH_UI_H
#define JH_UI_H

#include <stddef.h>

#include "io/http_router.h"

/* The page's routes into `routes`; returns how many. Handlers run on the
 * HTTP thread and read only constant data. */
#define UI_ROUTES 2
size_t ui_routes(struct http_route *routes);

#endif /* JH_UI_H */
