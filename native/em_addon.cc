// Node-API binding of the float32 EM pass (src/forensics/em-native.ts is its only caller). The
// instruction set is chosen at run time: every one compiled into this build that CPUID says the
// processor and OS support is offered, best first. The module keeps no state between calls, so it
// loads in any number of worker threads (NAPI_MODULE_INIT registers it per context).
#include <node_api.h>

#include <cstdint>
#include <cstring>

#include "em_pass.h"

namespace {

struct IsaEntry {
  em::Isa isa;
  bool (*supported)();
};

#if defined(__x86_64__) || defined(_M_X64)
bool avx2Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool avx512Supported() {
  // libgcc's checks include the OS's XSAVE support of the AVX-512 register state.
  return avx2Supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}
#endif
bool always() { return true; }

const IsaEntry kIsas[] = {
#if defined(__x86_64__) || defined(_M_X64)
    {{"avx512", em_avx512::lanes, em_avx512::pass, em_avx512::workBytes}, avx512Supported},
    {{"avx2", em_avx2::lanes, em_avx2::pass, em_avx2::workBytes}, avx2Supported},
#endif
    {{"generic", em_generic::lanes, em_generic::pass, em_generic::workBytes}, always},
};

bool check(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, nullptr, info && info->error_message ? info->error_message : "Node-API call failed");
  return false;
}

napi_value fail(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}

/** The supported instruction set named by a string argument, or null (with a pending exception). */
const em::Isa* isaArgument(napi_env env, napi_value value) {
  char name[32];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) != napi_ok) {
    fail(env, "the instruction set must be given by name");
    return nullptr;
  }
  for (const IsaEntry& entry : kIsas)
    if (std::strcmp(entry.isa.name, name) == 0 && entry.supported()) return &entry.isa;
  fail(env, "that instruction set is not built into this addon or not supported by this processor");
  return nullptr;
}

bool intArgument(napi_env env, napi_value value, int32_t* out) {
  if (napi_get_value_int32(env, value, out) == napi_ok) return true;
  fail(env, "expected an integer argument");
  return false;
}

bool floatArgument(napi_env env, napi_value value, float* out) {
  double v;
  if (napi_get_value_double(env, value, &v) != napi_ok) {
    fail(env, "expected a number argument");
    return false;
  }
  *out = static_cast<float>(v);
  return true;
}

/** A typed array of the given type with at least `minimum` elements. */
template <typename T>
bool typedArgument(napi_env env, napi_value value, napi_typedarray_type type, size_t minimum, T** data, size_t* length,
                   const char* what) {
  bool isTyped = false;
  napi_is_typedarray(env, value, &isTyped);
  napi_typedarray_type actual;
  size_t count = 0;
  void* pointer = nullptr;
  if (!isTyped || napi_get_typedarray_info(env, value, &actual, &count, &pointer, nullptr, nullptr) != napi_ok ||
      actual != type) {
    fail(env, what);
    return false;
  }
  if (count < minimum) {
    napi_throw_range_error(env, nullptr, what);
    return false;
  }
  *data = static_cast<T*>(pointer);
  if (length) *length = count;
  return true;
}

napi_value Isas(napi_env env, napi_callback_info) {
  napi_value list;
  if (!check(env, napi_create_array(env, &list))) return nullptr;
  uint32_t index = 0;
  for (const IsaEntry& entry : kIsas) {
    if (!entry.supported()) continue;
    napi_value item, name, lanes;
    if (!check(env, napi_create_object(env, &item)) ||
        !check(env, napi_create_string_utf8(env, entry.isa.name, NAPI_AUTO_LENGTH, &name)) ||
        !check(env, napi_create_int32(env, entry.isa.lanes, &lanes)) ||
        !check(env, napi_set_named_property(env, item, "name", name)) ||
        !check(env, napi_set_named_property(env, item, "lanes", lanes)) ||
        !check(env, napi_set_element(env, list, index++, item)))
      return nullptr;
  }
  return list;
}

/** workBytes(isa, n): the work memory a pass needs, plus 63 bytes of room to align it. */
napi_value WorkBytes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr))) return nullptr;
  if (argc < 2) return fail(env, "workBytes(isa, n)");
  const em::Isa* isa = isaArgument(env, argv[0]);
  int32_t n;
  if (!isa || !intArgument(env, argv[1], &n)) return nullptr;
  if (n < 2 || n > em::kMaxKernelSize) return fail(env, "the kernel size must be 2 to 7");
  napi_value result;
  check(env, napi_create_double(env, static_cast<double>(isa->workBytes(n) + 63), &result));
  return result;
}

/**
 * pass(n, pixels, stride, x0, x1, y0, y1, kernel, log2eOver2Var, density, p0, work, totals), bound to
 * one instruction set (the function's data): one EM pass, its sums into `totals`.
 */
napi_value Pass(napi_env env, napi_callback_info info) {
  constexpr size_t kArgs = 13;
  size_t argc = kArgs;
  napi_value argv[kArgs];
  void* data = nullptr;
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, &data))) return nullptr;
  if (argc < kArgs) return fail(env, "pass(n, pixels, stride, x0, x1, y0, y1, kernel, log2eOver2Var, density, p0, work, totals)");
  const em::Isa* isa = static_cast<const em::Isa*>(data);
  em::PassArgs a;
  int32_t n, stride, x0, x1, y0, y1;
  if (!intArgument(env, argv[0], &n) || !intArgument(env, argv[2], &stride) || !intArgument(env, argv[3], &x0) ||
      !intArgument(env, argv[4], &x1) || !intArgument(env, argv[5], &y0) || !intArgument(env, argv[6], &y1))
    return nullptr;
  if (n < 2 || n > em::kMaxKernelSize) return fail(env, "the kernel size must be 2 to 7");
  const int lo = -(n / 2), hi = n - n / 2 - 1, m = n * n - 1;
  if (!(x0 + lo >= 0 && y0 + lo >= 0 && x0 < x1 && y0 < y1 && x1 + hi <= stride))
    return fail(env, "the interior does not lie inside the channel");
  float* pixels;
  size_t pixelCount;
  // The last interior row's windows end at row y1 − 1 + hi; its last vector reads up to kPadFloats past them.
  const size_t needed = static_cast<size_t>(y1 + hi) * stride + em::kPadFloats;
  if (!typedArgument(env, argv[1], napi_float32_array, needed, &pixels, &pixelCount, "pixels: a Float32Array holding the channel and its padding"))
    return nullptr;
  float* kernel;
  if (!typedArgument(env, argv[7], napi_float32_array, m + 1, &kernel, nullptr, "kernel: a Float32Array of N²−1 weights and 1 − Σk"))
    return nullptr;
  if (!floatArgument(env, argv[8], &a.log2eOver2Var) || !floatArgument(env, argv[9], &a.density) ||
      !floatArgument(env, argv[10], &a.p0))
    return nullptr;
  uint8_t* work;
  if (!typedArgument(env, argv[11], napi_uint8_array, isa->workBytes(n) + 63, &work, nullptr, "work: a Uint8Array of workBytes(isa, n) bytes"))
    return nullptr;
  double* totals;
  if (!typedArgument(env, argv[12], napi_float64_array, em::accumulatorCount(m), &totals, nullptr, "totals: a Float64Array of the pass's accumulators"))
    return nullptr;
  a.pixels = pixels;
  a.stride = stride;
  a.x0 = x0;
  a.x1 = x1;
  a.y0 = y0;
  a.y1 = y1;
  a.n = n;
  a.kernel = kernel;
  a.work = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work) + 63) & ~static_cast<uintptr_t>(63));
  a.totals = totals;
  isa->pass(a);
  return nullptr;
}

/** passFor(isa): the pass function of that instruction set. */
napi_value PassFor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr))) return nullptr;
  if (argc < 1) return fail(env, "passFor(isa)");
  const em::Isa* isa = isaArgument(env, argv[0]);
  if (!isa) return nullptr;
  napi_value fn;
  // The data pointer is a static table entry: nothing to free when the function is collected.
  if (!check(env, napi_create_function(env, "pass", NAPI_AUTO_LENGTH, Pass, const_cast<em::Isa*>(isa), &fn))) return nullptr;
  return fn;
}

/**
 * copyChannel(data, offset, step, count, out): out[i] = data[offset + i·step] as float32 (out: a
 * Float32Array of at least count values); returns min + 256·max.
 */
napi_value CopyChannel(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (!check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr))) return nullptr;
  if (argc < 5) return fail(env, "copyChannel(data, offset, step, count, out)");
  int32_t offset, step, count;
  if (!intArgument(env, argv[1], &offset) || !intArgument(env, argv[2], &step) || !intArgument(env, argv[3], &count))
    return nullptr;
  if (offset < 0 || step < 1 || count < 1) return fail(env, "copyChannel: offset ≥ 0, step ≥ 1, count ≥ 1");
  uint8_t* source;
  const size_t sourceNeeded = static_cast<size_t>(offset) + static_cast<size_t>(count - 1) * step + 1;
  if (!typedArgument(env, argv[0], napi_uint8_array, sourceNeeded, &source, nullptr, "data: a Uint8Array holding every value copied"))
    return nullptr;
  float* out;
  if (!typedArgument(env, argv[4], napi_float32_array, count, &out, nullptr, "out: a Float32Array of at least count values"))
    return nullptr;
  int lo = 255, hi = 0;
  const uint8_t* p = source + offset;
  for (int32_t i = 0; i < count; i++, p += step) {
    const int v = *p;
    out[i] = static_cast<float>(v);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  napi_value result;
  check(env, napi_create_int32(env, lo + 256 * hi, &result));
  return result;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor properties[] = {
      {"isas", nullptr, Isas, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"workBytes", nullptr, WorkBytes, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"passFor", nullptr, PassFor, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"copyChannel", nullptr, CopyChannel, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_value padFloats;
  if (napi_create_int32(env, em::kPadFloats, &padFloats) != napi_ok ||
      napi_set_named_property(env, exports, "padFloats", padFloats) != napi_ok ||
      napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok)
    return nullptr;
  return exports;
}
