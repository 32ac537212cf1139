/* qengine's plain C API: opaque handles, status codes and per-thread error strings, for
 * embedding qengine from C and from other languages' foreign-function interfaces.
 *
 * Every function returns a qe_status (QE_OK on success) and writes results through its
 * out-parameters; on failure, qe_last_error() holds a one-line message for the calling thread
 * (it is left unchanged by calls that succeed). NULL where a handle or an out-parameter is
 * expected gives QE_INVALID_ARGUMENT. Every handle made by a *_create / *_load / qe_quantize /
 * qe_session_run call is released with its *_destroy function (which accepts NULL).
 * Strings and arrays returned by accessors belong to the handle and live as long as it does.
 *
 * Threads: qe_session_run and qe_session_classify may be called from several threads on one
 * session at once; a model may be shared by several sessions. Documented in docs/api.md. */
#ifndef QENGINE_QENGINE_H
#define QENGINE_QENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qe_status {
  QE_OK = 0,
  QE_INVALID_ARGUMENT = 1, /* bad input: NULL, names, shapes, dtypes, malformed files */
  QE_NOT_FOUND = 2,        /* a file, input or value that does not exist */
  QE_UNSUPPORTED = 3,      /* valid input qengine does not handle */
  QE_RUNTIME_ERROR = 4,    /* the job failed while running */
  QE_OUT_OF_MEMORY = 5
} qe_status;

typedef enum qe_dtype { QE_FLOAT32 = 0, QE_INT8 = 1, QE_UINT8 = 2, QE_INT32 = 3, QE_INT64 = 4 } qe_dtype;

typedef struct qe_model qe_model;
typedef struct qe_session qe_session;
typedef struct qe_tensor qe_tensor;

const char* qe_version(void);
/* Message of the last failed call on this thread ("" if none). */
const char* qe_last_error(void);
/* "QE_OK", "QE_INVALID_ARGUMENT", ... */
const char* qe_status_name(qe_status status);

/* ---- Models ---- */
/* Float ONNX, QONNX or QCDQ; the sidecar <model>.json (preprocessing, labels) is read too. */
qe_status qe_model_load(const char* path, qe_model** out_model);
void qe_model_destroy(qe_model* model);
qe_status qe_model_input_count(const qe_model* model, size_t* out_count);
qe_status qe_model_output_count(const qe_model* model, size_t* out_count);
qe_status qe_model_input_name(const qe_model* model, size_t index, const char** out_name);
qe_status qe_model_output_name(const qe_model* model, size_t index, const char** out_name);
/* Declared shape; -1 marks a symbolic dimension. A model without a declared rank gives rank 0
 * and *out_dims NULL. */
qe_status qe_model_input_shape(const qe_model* model, size_t index, const int64_t** out_dims, size_t* out_rank);
qe_status qe_model_output_shape(const qe_model* model, size_t index, const int64_t** out_dims, size_t* out_rank);
qe_status qe_model_is_quantized(const qe_model* model, int* out_quantized);
/* Atomic writes; the sidecar (when the model has one) goes next to the file. */
qe_status qe_model_export_qonnx(const qe_model* model, const char* path);
qe_status qe_model_export_qcdq(const qe_model* model, const char* path);

/* Quantizes a float model: rules_path may be NULL (built-in defaults); calib_dir is an
 * ImageNet-style folder (DIR/<class>/<image>); samples <= 0 means 1000; threads 0 = all. */
qe_status qe_quantize(const qe_model* float_model, const char* rules_path, const char* calib_dir, int64_t samples,
                      int threads, qe_model** out_model);

/* ---- Sessions ---- */
/* threads per run, 0 = all hardware threads. A quantized model runs on the integer kernels.
 * The session keeps its own reference to the model: the model may be destroyed first. */
qe_status qe_session_create(const qe_model* model, int threads, qe_session** out_session);
/* As qe_session_create, with a memory cap on each run's execution plan (activations and kernel
 * workspace); a run that would need more fails with QE_RUNTIME_ERROR. 0 means 16 GiB. */
qe_status qe_session_create_with_memory_limit(const qe_model* model, int threads, size_t max_memory_bytes,
                                              qe_session** out_session);
void qe_session_destroy(qe_session* session);
/* Runs on every model input by name. On success *out_outputs is a new array of
 * *out_n_outputs tensors in model-output order (names: qe_model_output_name), released with
 * qe_tensor_array_destroy. */
qe_status qe_session_run(const qe_session* session, size_t n_inputs, const char* const* input_names,
                         const qe_tensor* const* inputs, size_t* out_n_outputs, qe_tensor*** out_outputs);
/* Top-k classes of one image with the model's preprocessing, best first: classes[i] and
 * scores[i] (softmax probabilities) for i < top_k; entries beyond the number of classes are -1
 * and 0. */
qe_status qe_session_classify(const qe_session* session, const char* image_path, int top_k, int* classes,
                              float* scores);

/* ---- Tensors ---- */
/* Copies the data (numel(shape) elements; NULL data gives zeros). rank 0 is a scalar. */
qe_status qe_tensor_create(qe_dtype dtype, const int64_t* shape, size_t rank, const void* data, qe_tensor** out_tensor);
qe_status qe_tensor_create_f32(const int64_t* shape, size_t rank, const float* data, qe_tensor** out_tensor);
void qe_tensor_destroy(qe_tensor* tensor);
void qe_tensor_array_destroy(qe_tensor** tensors, size_t count);
qe_status qe_tensor_dtype(const qe_tensor* tensor, qe_dtype* out_dtype);
qe_status qe_tensor_shape(const qe_tensor* tensor, const int64_t** out_dims, size_t* out_rank);
/* The tensor's elements (row-major) and their size in bytes; writable through qe_tensor_data_mut. */
qe_status qe_tensor_data(const qe_tensor* tensor, const void** out_data, size_t* out_bytes);
qe_status qe_tensor_data_mut(qe_tensor* tensor, void** out_data, size_t* out_bytes);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* QENGINE_QENGINE_H */
