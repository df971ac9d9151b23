/*
 * sockopt: the one socket call Node lacks, getsockopt(2) with a caller-chosen buffer size.
 * Owns: copying the bytes the kernel wrote into a Buffer; turning a failure into an Error with
 * `code` (errno name) and `errno` (number). Must never: interpret the bytes (parsing is TypeScript's
 * job), keep state between calls, close or otherwise touch the descriptor.
 * Plain N-API (node_api.h), no node-addon-api.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_OPTLEN 65536

static const char *errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ENOTCONN: return "ENOTCONN";
    case ENOBUFS: return "ENOBUFS";
    default: return "EUNKNOWN";
  }
}

/* Returns NULL after scheduling a JS exception; callers return that NULL to JS. */
static napi_value throw_plain(napi_env env, const char *code, const char *message) {
  napi_throw_type_error(env, code, message);
  return NULL;
}

static napi_value throw_errno(napi_env env, int err) {
  char text[160];
  const char *name = errno_name(err);
  snprintf(text, sizeof text, "getsockopt failed: %s (%s)", strerror(err), name);

  napi_value message, code, errno_value, error;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_int32(env, err, &errno_value) != napi_ok ||
      napi_create_error(env, NULL, message, &error) != napi_ok) {
    napi_throw_error(env, name, text);
    return NULL;
  }
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_value syscall;
  if (napi_create_string_utf8(env, "getsockopt", NAPI_AUTO_LENGTH, &syscall) == napi_ok) {
    napi_set_named_property(env, error, "syscall", syscall);
  }
  napi_throw(env, error);
  return NULL;
}

static int read_int32(napi_env env, napi_value value, int32_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return 0;
  if (d != d || d < -2147483648.0 || d > 2147483647.0 || d != (double)(int32_t)d) return 0;
  *out = (int32_t)d;
  return 1;
}

/* getsockopt(fd, level, optname, maxLen) → Buffer of exactly the optlen the kernel returned. */
static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4) return throw_plain(env, "ERR_INVALID_ARG_COUNT", "getsockopt(fd, level, optname, maxLen) needs 4 arguments");

  int32_t fd, level, optname, max_len;
  if (!read_int32(env, argv[0], &fd) || fd < 0) return throw_plain(env, "ERR_INVALID_ARG_VALUE", "fd must be a non-negative integer");
  if (!read_int32(env, argv[1], &level)) return throw_plain(env, "ERR_INVALID_ARG_VALUE", "level must be an integer");
  if (!read_int32(env, argv[2], &optname)) return throw_plain(env, "ERR_INVALID_ARG_VALUE", "optname must be an integer");
  if (!read_int32(env, argv[3], &max_len) || max_len < 1 || max_len > MAX_OPTLEN)
    return throw_plain(env, "ERR_INVALID_ARG_VALUE", "maxLen must be an integer in 1..65536");

  void *storage = calloc(1, (size_t)max_len);
  if (storage == NULL) return throw_errno(env, ENOMEM);

  socklen_t len = (socklen_t)max_len;
  int rc = getsockopt(fd, level, optname, storage, &len);
  if (rc != 0) {
    int err = errno;
    free(storage);
    return throw_errno(env, err);
  }
  if (len > (socklen_t)max_len) len = (socklen_t)max_len; /* the kernel may report the full size of a truncated value */

  napi_value result;
  void *ignored;
  napi_status status = napi_create_buffer_copy(env, (size_t)len, storage, &ignored, &result);
  free(storage);
  if (status != napi_ok) {
    napi_throw_error(env, "ENOMEM", "could not allocate the result Buffer");
    return NULL;
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "getsockopt", NAPI_AUTO_LENGTH, js_getsockopt, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "getsockopt", fn) != napi_ok) return NULL;
  return exports;
}
