/*
 * fuzz/gen_onnx_seeds.c — writes the small generated ONNX heads of
 * fuzz/onnx_gen.h into a directory, as seeds for fuzz_onnx (run by
 * fuzz/make_corpus.sh):
 *
 *   gen_onnx_seeds DIR
 */
#include "onnx_gen.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < GEN_CASES; i++) {
        size_t len;
        unsigned char *b = gen_case(i, &len);
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-gen-%s.onnx", argv[1], gen_case_name[i]);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        free(b);
    }
    printf("gen_onnx_seeds: %d models in %s\n", GEN_CASES, argv[1]);
    return 0;
}
