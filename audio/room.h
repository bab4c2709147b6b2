/*
 * audio/room.h — what a room and a telephone line do to speech (internal):
 * generated room impulse responses, FFT convolution, band-limiting.
 * Used to make clean synthetic speech look like microphone recordings.
 * All audio is 16 kHz mono float (any scale; int16 scale in practice).
 */
#ifndef ES_ROOM_H
#define ES_ROOM_H

#include "es_internal.h"
#include "es_rng.h"

/* A room impulse response at 16 kHz: a unit direct path after `predelay`
 * seconds, then exponentially decaying Gaussian noise whose energy falls
 * by 60 dB in rt60 seconds (a diffuse late field, the statistical model of
 * a room), scaled so that direct energy / reverberant energy = drr_db.
 * Length predelay + rt60 (the tail is then 60 dB down). The noise comes
 * from rng. *h is malloc'd.
 * rt60 in [0.05, 3] s, drr_db in [-20, 30], predelay in [0, 0.1] s. */
es_status es_rir_generate(double rt60, double drr_db, double predelay, es_rng *rng, float **h, size_t *n,
                          es_error *err);

/* RT60 of an impulse response by Schroeder backward integration: the
 * energy decay curve EDC(t) = sum_{k >= t} h[k]^2 in dB, a least-squares
 * line through its -5..-25 dB part, extrapolated to -60 dB (T20).
 * Returns seconds, or NAN when the decay never reaches -25 dB. */
double es_rir_rt60(const float *h, size_t n, int rate);

/* Linear convolution y[n+m-1] = x * h by FFT (KissFFT, real transforms,
 * one block). y must hold n+m-1 floats and may not alias x or h. */
es_status es_convolve(const float *x, size_t n, const float *h, size_t m, float *y, es_error *err);

/* Reverberate a clip: convolve with h, keep the first n + tail samples
 * (tail = min(m-1, max_tail)), and rescale so the peak is the input's
 * peak (a room does not make a take louder or softer on average in the
 * data we want). *out malloc'd. */
es_status es_reverb(const float *x, size_t n, const float *h, size_t m, size_t max_tail, float **out,
                    size_t *out_n, es_error *err);

/* An 8 kHz channel: 16 kHz -> 8 kHz (libsamplerate), which removes
 * everything above ~3.6 kHz, then with telephone = 1 a 300-3400 Hz band
 * pass (4th-order Butterworth high- and low-pass as biquads), -> 16 kHz.
 * The output has the input's length. *out malloc'd. */
es_status es_bandlimit(const float *x, size_t n, int telephone, float **out, es_error *err);

#endif
