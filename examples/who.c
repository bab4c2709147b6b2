/*
 * who.c — who is speaking, with libearshot: enrol voices into a profile
 * file and name the speaker of a clip (the calls behind `earshot enroll`
 * and `earshot identify`).
 *
 *   who PROFILES --enroll NAME CLIP...   add takes of NAME (file created if new)
 *   who PROFILES CLIP...                 print each clip's speaker and score
 *
 * A speaker is represented by pooled statistics of the pretrained encoder's
 * activations and the log-mel, compared through a projection fitted on the
 * enrolled takes (README: "Who is speaking"). A few takes of a few seconds
 * per speaker are enough; below the profile's threshold the answer is
 * "unknown".
 *
 * Build against an installed libearshot:
 *   cc who.c $(pkg-config --cflags --libs earshot) -o who
 */
#include <earshot.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The representation of one clip: ES_SPK_DIM floats. */
static es_status features(es_engine *eng, const char *path, float *feat, es_error *err)
{
    es_audio a = {0};
    es_load_opts lo = { .quantize_int16 = 1 };   /* as the `earshot` command loads audio */
    es_status st = es_audio_load(path, &lo, &a, err);
    if (!st && (st = es_speaker_features(eng, a.samples, a.n, feat, err)))
        snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), " (%s)", path);
    es_audio_free(&a);
    return st;
}

int main(int argc, char **argv)
{
    int enroll = argc >= 5 && !strcmp(argv[2], "--enroll");
    if (argc < 3 || (!enroll && !strcmp(argv[2], "--enroll"))) {
        fprintf(stderr, "usage: %s PROFILES --enroll NAME CLIP...\n       %s PROFILES CLIP...\n", argv[0], argv[0]);
        return 2;
    }
    es_error err = {0};
    es_engine *eng = es_engine_create(NULL, &err);
    if (!eng) { fprintf(stderr, "who: %s\n", err.msg); return 1; }
    const char *prof = argv[1];
    int first = enroll ? 4 : 2, n = argc - first, rc = 1;
    float *F = malloc((size_t)n * ES_SPK_DIM * sizeof *F);
    es_speakers *s = NULL;
    if (!F) { fprintf(stderr, "who: out of memory\n"); goto out; }
    /* Enrolling into a file that does not exist yet starts an empty set.
     * Any other file is read, and refused whole if it is damaged or was
     * made with another encoder (its numbers would mean nothing to this
     * one): an unreadable profile is reported, never replaced. */
    FILE *f = fopen(prof, "rb");
    int is_new = !f && errno == ENOENT;
    if (f) fclose(f);
    s = enroll && is_new ? es_speakers_new(eng, &err) : es_speakers_load(prof, eng, &err);
    if (!s) { fprintf(stderr, "who: %s\n", err.msg); goto out; }

    if (enroll) {
        /* every take first: a bad file leaves the profile as it was */
        for (int i = 0; i < n; i++)
            if (features(eng, argv[first + i], F + (size_t)i * ES_SPK_DIM, &err)) { fprintf(stderr, "who: %s\n", err.msg); goto out; }
        if (es_speakers_enroll(s, argv[3], F, (size_t)n, 0, &err) || es_speakers_save(s, prof, &err)) {
            fprintf(stderr, "who: %s\n", err.msg);
            goto out;
        }
        printf("%s holds %zu speaker%s\n", prof, es_speakers_count(s), es_speakers_count(s) == 1 ? "" : "s");
        rc = 0;
        goto out;
    }
    rc = 0;
    for (int i = 0; i < n; i++) {
        int best;
        float score;
        if (features(eng, argv[first + i], F, &err) || es_speakers_score(s, F, NULL, &best, &score, &err)) {
            fprintf(stderr, "who: %s\n", err.msg);   /* go on with the next clip */
            rc = 1;
            continue;
        }
        printf("%s\t%s\t%.4f\n", argv[first + i], best >= 0 ? es_speakers_name(s, (size_t)best) : "unknown", score);
    }
out:
    es_speakers_free(s);
    free(F);
    es_engine_free(eng);
    return rc;
}
