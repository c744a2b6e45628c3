// libvips, loaded on first use (dlopen) instead of linked. Its image codecs
// pull in about a hundred shared libraries (SVG, OpenEXR, HDF5, TLS, ...):
// linked, they are mapped into every vigie from the start and are most of
// an idle server's memory; loaded lazily, only a server that makes a
// thumbnail pays for them.
#pragma once

#include <vips/vips.h>

namespace vigie::service::libvips {

// The functions vigie calls, with the exact types of the library's own
// declarations.
struct Api {
  decltype(&::vips_init) init;
  decltype(&::vips_cache_set_max) cache_set_max;
  decltype(&::vips_concurrency_set) concurrency_set;
  decltype(&::vips_error_clear) error_clear;
  decltype(&::vips_image_new_from_buffer) image_new_from_buffer;
  decltype(&::vips_image_get_width) image_get_width;
  decltype(&::vips_image_get_height) image_get_height;
  decltype(&::vips_thumbnail_buffer) thumbnail_buffer;
  decltype(&::vips_image_write_to_buffer) image_write_to_buffer;
  decltype(&::g_object_unref) object_unref;
  decltype(&::g_free) free;
};

// Loads and initialises libvips once (no operation cache, one thread per
// operation); later calls return the same table. Throws Internal when the
// library or one of its functions is missing, or it fails to initialise.
const Api& Get();

}  // namespace vigie::service::libvips
