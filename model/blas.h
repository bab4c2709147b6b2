/*
 * model/blas.h — the one door to OpenBLAS (model/blas.c): every matrix
 * product of the library goes through es_sgemm, so that under an
 * address-space limit (ulimit -v) no call can find OpenBLAS without a
 * work buffer, which it would wait for forever.
 */
#ifndef ES_BLAS_H
#define ES_BLAS_H

#include "earshot.h"
#include <cblas.h>

/* Row-major C = alpha op(A) op(B) + beta C, as cblas_sgemm (same results,
 * bit for bit). Under an address-space limit, waits while as many calls
 * as OpenBLAS has buffers for are under way. */
void es_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* ES_OK, or ES_ERR_NOMEM with a message when the address-space limit
 * leaves no room for even one OpenBLAS work buffer: then es_sgemm cannot
 * run. Every object that multiplies asks when it is created, so a command
 * stops before reading its inputs or writing anything. */
es_status es_blas_ready(es_error *err);

#endif
