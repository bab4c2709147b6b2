/*
 * es_rng.h — the library's one seeded random-number generator (internal,
 * not installed). Every random choice in earshot (initialisation,
 * shuffling, dropout, augmentation recipes, generated noise) draws from an
 * es_rng, so a seed reproduces a run. It lives in its own header because
 * audio/ (augmentation) and model/ (training) both use it and audio must not
 * include model headers.
 */
#ifndef ES_RNG_H
#define ES_RNG_H

#include <stdint.h>

/* xoshiro256** seeded through splitmix64: the integer stream (and so
 * es_rng_uniform and es_rng_below) is the same on every machine.
 * es_rng_normal goes through libm's log/cos, so it is only guaranteed
 * identical for the same libm. */
typedef struct { uint64_t s[4]; } es_rng;
void es_rng_seed(es_rng *r, uint64_t seed);
float es_rng_uniform(es_rng *r);              /* [0, 1), 24 random bits */
float es_rng_normal(es_rng *r);               /* N(0, 1), Box-Muller */
uint64_t es_rng_below(es_rng *r, uint64_t n); /* uniform in [0, n), unbiased; 0 if n == 0 */

/* The next 64 random bits. Inline: dropout and generated noise draw one
 * number per element. */
static inline uint64_t es_rng_rotl_(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t es_rng_next(es_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = es_rng_rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = es_rng_rotl_(s[3], 45);
    return out;
}

#endif
