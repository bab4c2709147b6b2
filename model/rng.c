/*
 * model/rng.c — the seeded generator every random choice goes through
 * (es_rng.h): xoshiro256** (Blackman and Vigna) seeded by splitmix64.
 */
#include "es_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void es_rng_seed(es_rng *r, uint64_t seed)
{
    /* splitmix64 spreads any seed (0 included) over the 256-bit state, which
     * xoshiro needs to be non-zero */
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

float es_rng_uniform(es_rng *r)
{
    /* the top 24 bits: every value is exact in a float and < 1 */
    return (float)(es_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

float es_rng_normal(es_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite. One of the pair is
     * dropped, which keeps the generator stateless beyond s[]. */
    double u1 = ((double)(es_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(es_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t es_rng_below(es_rng *r, uint64_t n)
{
    if (n == 0) return 0;
    /* reject the top partial copy of [0, n) so every residue is equally likely */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = es_rng_next(r);
    while (x >= lim);
    return x % n;
}
