/* Classifies images with qengine's C API.
 *
 *   qengine_c_example MODEL.onnx IMAGE... [--top K]
 *
 * Prints the model's inputs, then per image one line "IMAGE: class C (P%)" per top class.
 * Exit code 0 on success, 1 when a call fails (its status and message go to stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qengine/qengine.h"

static int fail(const char* what, qe_status status) {
  fprintf(stderr, "qengine_c_example: %s: %s: %s\n", what, qe_status_name(status), qe_last_error());
  return 1;
}

int main(int argc, char** argv) {
  int top_k = 3;
  int n_images = 0;
  const char* images[64];
  int i;
  for (i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
      top_k = atoi(argv[++i]);
    } else if (n_images < 64) {
      images[n_images++] = argv[i];
    }
  }
  if (argc < 3 || n_images == 0 || top_k < 1 || top_k > 100) {
    fprintf(stderr, "usage: %s MODEL.onnx IMAGE... [--top K (1-100)]\n", argv[0]);
    return 2;
  }

  qe_model* model = NULL;
  qe_status st = qe_model_load(argv[1], &model);
  if (st != QE_OK) return fail("loading the model", st);

  size_t n_inputs = 0;
  qe_model_input_count(model, &n_inputs);
  for (i = 0; i < (int)n_inputs; ++i) {
    const char* name = NULL;
    const int64_t* dims = NULL;
    size_t rank = 0, d;
    qe_model_input_name(model, (size_t)i, &name);
    qe_model_input_shape(model, (size_t)i, &dims, &rank);
    printf("input %s [", name);
    for (d = 0; d < rank; ++d) printf("%s%lld", d ? ", " : "", (long long)dims[d]);
    printf("]\n");
  }

  qe_session* session = NULL;
  st = qe_session_create(model, 1, &session);
  qe_model_destroy(model); /* the session keeps what it needs */
  if (st != QE_OK) return fail("creating the session", st);

  int* classes = malloc(sizeof(int) * (size_t)top_k);
  float* scores = malloc(sizeof(float) * (size_t)top_k);
  int rc = 0;
  if (!classes || !scores) {
    fprintf(stderr, "qengine_c_example: out of memory\n");
    rc = 1;
  }
  for (i = 0; rc == 0 && i < n_images; ++i) {
    int k;
    st = qe_session_classify(session, images[i], top_k, classes, scores);
    if (st != QE_OK) {
      rc = fail(images[i], st);
      break;
    }
    for (k = 0; k < top_k && classes[k] >= 0; ++k) {
      printf("%s: class %d (%.2f%%)\n", images[i], classes[k], 100.0 * scores[k]);
    }
  }
  free(classes);
  free(scores);
  qe_session_destroy(session);
  return rc;
}
