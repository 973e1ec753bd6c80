/*
 * ui_assets — the status page's files, compiled into the binary: the
 * build turns host/io/ui/ into a C file (host/io/ui/embed.sh) holding
 * ui_assets[]. Read-only data; io/ui.c serves it.
 */
#ifndef JH_UI_ASSETS_H
#define JH_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
    const char *name;          /* the file's name: "index.html", "app.js" */
    const char *etag;          /* W/"<first 16 hex digits of its SHA-256>" */
    const unsigned char *data;
    size_t len;
};

/* Every file, then an entry whose name is NULL. */
extern const struct ui_asset ui_assets[];

#endif /* JH_UI_ASSETS_H */
