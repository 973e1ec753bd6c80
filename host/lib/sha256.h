/*
 * sha256 — content hashes of plugin files: a changed .so is one whose
 * bytes changed, whatever its path or mtime says. Pure.
 */
#ifndef JH_SHA256_H
#define JH_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char block[64];
    size_t used;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[32]);

/* Hex of the digest: 64 characters and NUL. */
void sha256_hex(const unsigned char digest[32], char out[65]);

#endif /* JH_SHA256_H */
