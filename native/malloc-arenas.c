/*
 * malloc_arenas: caps glibc's malloc arenas, mallopt(M_ARENA_MAX), the one allocator setting Node cannot make.
 * Why: glibc gives each new thread that allocates its own arena (up to 8 per core), and memory freed into an
 * arena stays resident. The gateway moves a zip's bytes between its event loop, its zip hashing threads and
 * libuv's pool, so a 100 MB download left one or two arenas of 30+ MiB resident for no gain.
 * Owns: the mallopt call and its answer. Must never: allocate for the caller, keep state, or run on a libc
 * without M_ARENA_MAX (musl: it answers false and does nothing).
 * Plain N-API (node_api.h), no node-addon-api.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <malloc.h>

/* capArenas(n) → true when the C library took the cap (n ≥ 1), false when it has no such setting. */
static napi_value js_cap_arenas(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t n = 0;
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "capArenas(n) needs a whole number n >= 1");
    return NULL;
  }
  int took = 0;
#ifdef M_ARENA_MAX
  took = mallopt(M_ARENA_MAX, n) == 1;
#endif
  napi_value result;
  if (napi_get_boolean(env, took, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "capArenas", NAPI_AUTO_LENGTH, js_cap_arenas, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "capArenas", fn) != napi_ok) return NULL;
  return exports;
}
