#include "service/libvips.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "common/error.h"

namespace vigie::service::libvips {
namespace {

// Debian 12's libvips42 (8.14); the unversioned name needs the -dev package.
constexpr const char* kLibraries[] = {"libvips.so.42", "libvips.so"};

template <typename Fn>
void Bind(void* lib, const char* name, Fn& out) {
  void* sym = dlsym(lib, name);
  if (!sym) throw Internal(std::string("libvips lacks ") + name);
  out = reinterpret_cast<Fn>(sym);
}

Api Load() {
  void* lib = nullptr;
  for (const char* name : kLibraries) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib) break;
  }
  if (!lib) throw Internal("libvips is not installed (thumbnails need libvips42)");
  // Never dlclose'd: libvips keeps global state for the process's life.
  Api api{};
  Bind(lib, "vips_init", api.init);
  Bind(lib, "vips_cache_set_max", api.cache_set_max);
  Bind(lib, "vips_concurrency_set", api.concurrency_set);
  Bind(lib, "vips_error_clear", api.error_clear);
  Bind(lib, "vips_image_new_from_buffer", api.image_new_from_buffer);
  Bind(lib, "vips_image_get_width", api.image_get_width);
  Bind(lib, "vips_image_get_height", api.image_get_height);
  Bind(lib, "vips_thumbnail_buffer", api.thumbnail_buffer);
  Bind(lib, "vips_image_write_to_buffer", api.image_write_to_buffer);
  Bind(lib, "g_object_unref", api.object_unref);
  Bind(lib, "g_free", api.free);
  if (api.init("vigie") != 0) throw Internal("libvips failed to initialise");
  api.cache_set_max(0);  // keep no decoded images between requests
  api.concurrency_set(1);
  return api;
}

}  // namespace

const Api& Get() {
  static std::once_flag once;
  static Api api{};
  static std::string failure;
  std::call_once(once, [] {
    try {
      api = Load();
    } catch (const Error& e) {
      failure = e.message();
    }
  });
  if (!failure.empty()) throw Internal(failure);
  return api;
}

}  // namespace vigie::service::libvips
