#include <stdio.h>
int main(void) { puts("SKIP: not written yet"); return 77; }
